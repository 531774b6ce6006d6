-- CreateTable
CREATE TABLE "api_keys" (
    "id" TEXT NOT NULL,
    "owner_id" TEXT NOT NULL,
    "role" TEXT NOT NULL DEFAULT 'owner',
    "prefix" TEXT NOT NULL,
    "key_hash" TEXT NOT NULL,
    "label" TEXT,
    "created_by" TEXT,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "revoked_at" TIMESTAMP(3),

    CONSTRAINT "api_keys_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "agents" (
    "id" TEXT NOT NULL,
    "owner_id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "description" TEXT,
    "capabilities" JSONB NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'offline',
    "last_seen" TIMESTAMP(3),
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "agents_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "agent_networks" (
    "id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "description" TEXT,
    "agents" JSONB NOT NULL,
    "coordination_strategy" TEXT NOT NULL DEFAULT 'round-robin',
    "status" TEXT NOT NULL DEFAULT 'active',
    "owner_id" TEXT NOT NULL,
    "rr_cursor" INTEGER NOT NULL DEFAULT 0,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "agent_networks_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "agent_network_executions" (
    "id" TEXT NOT NULL,
    "network_id" TEXT NOT NULL,
    "owner_id" TEXT NOT NULL,
    "task" JSONB NOT NULL,
    "priority" TEXT NOT NULL DEFAULT 'normal',
    "status" TEXT NOT NULL DEFAULT 'queued',
    "results" JSONB,
    "error" TEXT,
    "started_at" TIMESTAMP(3),
    "completed_at" TIMESTAMP(3),
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "agent_network_executions_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "subtasks" (
    "id" TEXT NOT NULL,
    "owner_id" TEXT NOT NULL,
    "execution_id" TEXT,
    "coordination_id" TEXT,
    "seq" INTEGER NOT NULL,
    "payload" JSONB NOT NULL,
    "requires" JSONB,
    "priority_rank" INTEGER NOT NULL DEFAULT 1,
    "status" TEXT NOT NULL DEFAULT 'pending',
    "assignee_id" TEXT,
    "assigned_at" TIMESTAMP(3),
    "lease_expires_at" TIMESTAMP(3),
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "max_attempts" INTEGER NOT NULL DEFAULT 3,
    "result" JSONB,
    "error" TEXT,
    "started_at" TIMESTAMP(3),
    "completed_at" TIMESTAMP(3),
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "subtasks_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "swarms" (
    "id" TEXT NOT NULL,
    "owner_id" TEXT NOT NULL,
    "capability" TEXT NOT NULL,
    "region" TEXT,
    "status" TEXT NOT NULL DEFAULT 'open',
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "swarms_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "swarm_members" (
    "id" TEXT NOT NULL,
    "swarm_id" TEXT NOT NULL,
    "member_id" TEXT NOT NULL,
    "role" TEXT NOT NULL,
    "capability" TEXT NOT NULL,
    "region" TEXT,
    "priority" TEXT NOT NULL DEFAULT 'normal',
    "status" TEXT NOT NULL DEFAULT 'active',
    "owner_id" TEXT NOT NULL,
    "reputation" DOUBLE PRECISION NOT NULL DEFAULT 0.5,
    "last_heartbeat_at" TIMESTAMP(3),
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMP(3) NOT NULL,
    "left_at" TIMESTAMP(3),

    CONSTRAINT "swarm_members_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "swarm_coordination" (
    "id" TEXT NOT NULL,
    "task_id" TEXT NOT NULL,
    "swarm_id" TEXT NOT NULL,
    "owner_id" TEXT NOT NULL,
    "strategy" TEXT NOT NULL,
    "parameters" JSONB,
    "status" TEXT NOT NULL DEFAULT 'coordinating',
    "assigned_members" JSONB,
    "results" JSONB,
    "consensus_algorithm" TEXT,
    "consensus_threshold" DOUBLE PRECISION,
    "confidence_score" DOUBLE PRECISION,
    "consensus_reached_at" TIMESTAMP(3),
    "timeout_seconds" INTEGER,
    "deadline_at" TIMESTAMP(3),
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "swarm_coordination_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "swarm_votes" (
    "id" TEXT NOT NULL,
    "coordination_id" TEXT NOT NULL,
    "member_id" TEXT NOT NULL,
    "subtask_id" TEXT,
    "result" JSONB NOT NULL,
    "result_hash" TEXT NOT NULL,
    "weight" DOUBLE PRECISION NOT NULL DEFAULT 1,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "swarm_votes_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "api_keys_key_hash_key" ON "api_keys"("key_hash");

-- CreateIndex
CREATE INDEX "api_keys_owner_id_idx" ON "api_keys"("owner_id");

-- CreateIndex
CREATE INDEX "agents_owner_id_created_at_id_idx" ON "agents"("owner_id", "created_at", "id");

-- CreateIndex
CREATE UNIQUE INDEX "agents_owner_id_name_key" ON "agents"("owner_id", "name");

-- CreateIndex
CREATE INDEX "agent_networks_owner_id_created_at_id_idx" ON "agent_networks"("owner_id", "created_at", "id");

-- CreateIndex
CREATE INDEX "agent_network_executions_network_id_created_at_idx" ON "agent_network_executions"("network_id", "created_at");

-- CreateIndex
CREATE INDEX "agent_network_executions_network_id_status_idx" ON "agent_network_executions"("network_id", "status");

-- CreateIndex
CREATE INDEX "subtasks_assignee_id_status_priority_rank_created_at_idx" ON "subtasks"("assignee_id", "status", "priority_rank", "created_at");

-- CreateIndex
CREATE INDEX "subtasks_execution_id_seq_idx" ON "subtasks"("execution_id", "seq");

-- CreateIndex
CREATE INDEX "subtasks_coordination_id_seq_idx" ON "subtasks"("coordination_id", "seq");

-- CreateIndex
CREATE INDEX "subtasks_status_lease_expires_at_idx" ON "subtasks"("status", "lease_expires_at");

-- CreateIndex
CREATE INDEX "swarms_owner_id_capability_region_status_idx" ON "swarms"("owner_id", "capability", "region", "status");

-- CreateIndex
CREATE UNIQUE INDEX "swarm_members_member_id_key" ON "swarm_members"("member_id");

-- CreateIndex
CREATE INDEX "swarm_members_swarm_id_status_idx" ON "swarm_members"("swarm_id", "status");

-- CreateIndex
CREATE INDEX "swarm_members_owner_id_status_idx" ON "swarm_members"("owner_id", "status");

-- CreateIndex
CREATE INDEX "swarm_coordination_swarm_id_status_idx" ON "swarm_coordination"("swarm_id", "status");

-- CreateIndex
CREATE UNIQUE INDEX "swarm_coordination_owner_id_task_id_key" ON "swarm_coordination"("owner_id", "task_id");

-- CreateIndex
CREATE UNIQUE INDEX "swarm_votes_coordination_id_member_id_key" ON "swarm_votes"("coordination_id", "member_id");

-- AddForeignKey
ALTER TABLE "agent_network_executions" ADD CONSTRAINT "agent_network_executions_network_id_fkey" FOREIGN KEY ("network_id") REFERENCES "agent_networks"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "subtasks" ADD CONSTRAINT "subtasks_execution_id_fkey" FOREIGN KEY ("execution_id") REFERENCES "agent_network_executions"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "subtasks" ADD CONSTRAINT "subtasks_coordination_id_fkey" FOREIGN KEY ("coordination_id") REFERENCES "swarm_coordination"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "swarm_members" ADD CONSTRAINT "swarm_members_swarm_id_fkey" FOREIGN KEY ("swarm_id") REFERENCES "swarms"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "swarm_votes" ADD CONSTRAINT "swarm_votes_coordination_id_fkey" FOREIGN KEY ("coordination_id") REFERENCES "swarm_coordination"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
