// Prisma CLI configuration. DATABASE_URL picks the provider, the same rule
// the server uses (apps/server/src/db/target.ts): a postgres(ql):// URL means
// PostgreSQL with the generated schema variant, anything else SQLite.
// The server applies migrations itself at start (and `pnpm db:migrate` does
// too, offline); on a machine that can download Prisma's engines,
// `npx prisma migrate deploy` / `migrate status` work with this file unchanged.
import { defineConfig } from 'prisma/config';

const url = process.env.DATABASE_URL?.trim() || 'file:./data/aitbc.db';
const provider = /^postgres(ql)?:\/\//i.test(url) ? 'postgresql' : 'sqlite';

export default defineConfig({
  schema: provider === 'postgresql' ? 'prisma/postgresql/schema.prisma' : 'prisma/schema.prisma',
  migrations: { path: `prisma/migrations/${provider}` },
  datasource: { url },
});
