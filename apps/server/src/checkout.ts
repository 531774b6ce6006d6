import { fileURLToPath } from 'node:url';

/**
 * The checkout's root directory. This module sits two levels under it in the
 * source (apps/server/src/) and in the compiled server (apps/server/dist/),
 * so the same relative step finds it from either; modules deeper in src/
 * must not use their own import.meta.url for files outside the package.
 */
export const checkoutRoot = fileURLToPath(new URL('../../../', import.meta.url));
