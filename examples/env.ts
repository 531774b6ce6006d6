// Where the examples find the server and their key: the variables the `aitbc` CLI reads.

/** A variable that must be set, and not empty: an empty key would only be refused by the server. */
export function need(name: string): string {
  const value = process.env[name]?.trim();
  if (!value) {
    console.error(`${name} is not set (or is empty)`);
    process.exit(2);
  }
  return value;
}

export const url = process.env.AITBC_URL?.trim() || 'http://127.0.0.1:8000';
export const apiKey = need('AITBC_API_KEY');
