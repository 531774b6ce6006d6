/**
 * Group commit per key (an owner): while a key's call runs, the calls made
 * for that key meanwhile wait and go together in the next one, so many
 * requests' small pieces of work cost one statement or one transaction, and
 * a key has at most one call waiting for the database at a time. Nothing
 * waits when nothing runs: a lone call goes at once. Each caller is answered
 * by a call that started after it asked.
 */
interface Waiting<I, O> {
  input: I;
  resolve: (output: O) => void;
  reject: (error: unknown) => void;
}

export class Groups<I, O> {
  private readonly waiting = new Map<string, Waiting<I, O>[]>();
  private readonly running = new Set<string>();

  /**
   * `run` does a group's inputs at once and returns one output per input, in order; `size` and `max` bound a group
   * (a larger one waits for the next; a single input larger than `max` goes alone).
   */
  constructor(
    private readonly run: (key: string, inputs: I[]) => Promise<O[]>,
    private readonly size: (input: I) => number,
    private readonly max: number,
  ) {}

  call(key: string, input: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      const queue = this.waiting.get(key) ?? [];
      this.waiting.set(key, queue);
      queue.push({ input, resolve, reject });
      if (!this.running.has(key)) void this.drain(key);
    });
  }

  private async drain(key: string): Promise<void> {
    this.running.add(key);
    try {
      for (let queue = this.waiting.get(key); queue?.length; queue = this.waiting.get(key)) {
        let [size, take] = [0, 0];
        while (take < queue.length && (take === 0 || size + this.size(queue[take]!.input) <= this.max))
          size += this.size(queue[take++]!.input);
        const group = queue.splice(0, take);
        if (queue.length === 0) this.waiting.delete(key);
        try {
          const outputs = await this.run(
            key,
            group.map((g) => g.input),
          );
          for (const [i, g] of group.entries()) g.resolve(outputs[i]!);
        } catch (error) {
          for (const g of group) g.reject(error);
        }
      }
    } finally {
      this.running.delete(key);
    }
  }
}
