-- CreateTable
CREATE TABLE "dead_letters" (
    "subtask_id" TEXT NOT NULL PRIMARY KEY,
    "owner_id" TEXT NOT NULL,
    "network_id" TEXT NOT NULL,
    "execution_id" TEXT NOT NULL,
    "seq" INTEGER NOT NULL,
    "error" TEXT NOT NULL,
    "attempts" INTEGER NOT NULL,
    "failed_at" DATETIME NOT NULL
);

-- CreateIndex
CREATE INDEX "dead_letters_owner_id_failed_at_subtask_id_idx" ON "dead_letters"("owner_id", "failed_at", "subtask_id");

-- CreateIndex
CREATE INDEX "dead_letters_execution_id_idx" ON "dead_letters"("execution_id");
