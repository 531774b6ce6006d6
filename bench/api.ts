/** The server's API as the scenarios call it: one JSON request, and members joined in bulk. */

/** One JSON request (fetch keeps connections alive); throws on a status it did not expect. */
export async function call<T>(
  base: string,
  key: string,
  method: string,
  path: string,
  body?: unknown,
  expect = [200, 201, 202],
): Promise<T> {
  const res = await fetch(base + path, {
    method,
    headers: { 'x-api-key': key, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  if (!expect.includes(res.status)) throw new Error(`${method} ${path}: ${res.status} ${text.slice(0, 300)}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

export type Call = typeof call;

/** `n` members joined to the swarm of `capability`, 64 joins at a time. */
export async function joinMembers(
  base: string,
  key: string,
  capability: string,
  n: number,
): Promise<{ swarm_id: string; member_id: string }[]> {
  const out: { swarm_id: string; member_id: string }[] = [];
  for (let i = 0; i < n; i += 64) {
    out.push(
      ...(await Promise.all(
        Array.from({ length: Math.min(64, n - i) }, () =>
          call<{ swarm_id: string; member_id: string }>(base, key, 'POST', '/swarm/join', { role: 'monitor', capability }),
        ),
      )),
    );
  }
  return out;
}
