-- AlterTable
ALTER TABLE "agent_network_executions" ADD COLUMN     "trace_parent" TEXT;

-- AlterTable
ALTER TABLE "swarm_coordination" ADD COLUMN     "trace_parent" TEXT;
