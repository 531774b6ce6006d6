/** A REST call as an outside client makes it: real HTTP, JSON in and out. */
export interface Reply<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

export function restClient(base: string, apiKey?: string) {
  return async function call<T = any>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<Reply<T>> {
    const res = await fetch(base + path, {
      method,
      headers: {
        ...(apiKey !== undefined ? { 'x-api-key': apiKey } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...headers,
      },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      /* not JSON: keep the text so a test can say so */
    }
    return { status: res.status, body: parsed as T, headers: res.headers };
  };
}
