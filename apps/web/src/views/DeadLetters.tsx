import { useState } from 'react';
import { describe, type ErrorInfo, type Outputs } from '../api.ts';
import { useLive, useLiveQuery } from '../live.tsx';
import { Empty, ErrorNote, Id, Loading, Table } from '../ui.tsx';

type DeadLetter = Outputs['deadLetter']['list']['dead_letters'][number];
type Redriven = Outputs['deadLetter']['redrive'];

/** Dead letters per page (the newest). */
const PAGE = 100;

function when(at: string): string {
  return new Date(at).toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'medium' });
}

/** What a redrive did, in a line: executions running again, and those skipped with why. */
function Outcome({ value }: { value: Redriven }) {
  const subtasks = value.redriven.reduce((n, r) => n + r.subtasks, 0);
  return (
    <p className="note" role="status" data-testid="redrive-outcome">
      {value.redriven.length
        ? `${value.redriven.length} execution${value.redriven.length === 1 ? '' : 's'} running again, ${subtasks} subtask${subtasks === 1 ? '' : 's'} queued with fresh attempts.`
        : 'Nothing ran again.'}
      {value.skipped.map((s) => (
        <span key={s.execution_id} className="muted">
          {' '}
          Skipped: {s.reason}.
        </span>
      ))}
    </p>
  );
}

/**
 * Dead letters: the subtasks that failed for good, failing their execution,
 * newest first with their last error, narrowed by the error's text. An owner
 * key redrives one execution's, or every one shown; a read key only reads.
 */
export function DeadLetters({ canRedrive }: { canRedrive: boolean }) {
  const { api } = useLive();
  const [error, setError] = useState('');
  const input = { limit: PAGE, ...(error.trim() ? { error: error.trim() } : {}) };
  const page = useLiveQuery((a) => a.deadLetter.list.query(input), [JSON.stringify(input)], 2000);
  const [redrive, setRedrive] = useState<{ busy: boolean; error: ErrorInfo | null; done: Redriven | null }>({
    busy: false,
    error: null,
    done: null,
  });

  const run = async (request: { execution_id?: string; subtask_ids?: string[] }) => {
    setRedrive({ busy: true, error: null, done: null });
    try {
      setRedrive({ busy: false, error: null, done: await api.deadLetter.redrive.mutate(request) });
    } catch (e) {
      setRedrive({ busy: false, error: describe(e), done: null });
    }
  };

  if (page.loading) return <Loading />;
  const letters: DeadLetter[] = page.data?.dead_letters ?? [];
  return (
    <div className="view" data-testid="view-dead-letters">
      <div className="view-head">
        <h2>Dead letters</h2>
        <span className="muted">
          subtasks that failed for good and failed their execution, with their last error; a redrive runs them again
        </span>
      </div>
      <div className="filters">
        <label className="small">
          error contains{' '}
          <input aria-label="error contains" value={error} onChange={(e) => setError(e.target.value)} placeholder="e.g. out of memory" />
        </label>
        <span className="muted small" data-testid="dead-letter-count">
          {letters.length} dead letter{letters.length === 1 ? '' : 's'}
          {page.data?.next_cursor ? ', more before' : ''}
        </span>
        {canRedrive && letters.length ? (
          <button
            type="button"
            disabled={redrive.busy}
            onClick={() => run({ subtask_ids: letters.map((l) => l.subtask_id) })}
            data-testid="redrive-all"
          >
            {redrive.busy ? 'Redriving…' : `Redrive ${letters.length === 1 ? 'it' : `these ${letters.length}`}`}
          </button>
        ) : null}
      </div>
      <ErrorNote error={page.error ?? redrive.error} />
      {redrive.done ? <Outcome value={redrive.done} /> : null}
      {letters.length === 0 && !page.error ? (
        error.trim() ? (
          <p className="muted">No dead letter’s error contains that.</p>
        ) : (
          <Empty title="No dead letters" commands={['aitbc dead-letters list', 'aitbc dead-letters redrive --execution EXECUTION_ID']}>
            A subtask that fails for good (its attempts spent, or its worker saying retrying cannot help) fails its execution and is kept
            here until it is redriven:
          </Empty>
        )
      ) : null}
      {letters.length ? (
        <Table testId="dead-letters" label="dead letters">
          <thead>
            <tr>
              <th>failed</th>
              <th>execution</th>
              <th>subtask</th>
              <th>seq</th>
              <th>attempts</th>
              <th>last error</th>
              {canRedrive ? <th /> : null}
            </tr>
          </thead>
          <tbody>
            {letters.map((l) => (
              <tr key={l.subtask_id} data-testid="dead-letter" data-subtask-id={l.subtask_id} data-execution-id={l.execution_id}>
                <td title={l.failed_at}>{when(l.failed_at)}</td>
                <td>
                  <Id value={l.execution_id} />
                </td>
                <td>
                  <Id value={l.subtask_id} />
                </td>
                <td>{l.seq}</td>
                <td>{l.attempts}</td>
                <td className="error-text" title={l.error}>
                  {l.error.length > 90 ? `${l.error.slice(0, 89)}…` : l.error}
                </td>
                {canRedrive ? (
                  <td>
                    <button
                      type="button"
                      className="secondary"
                      disabled={redrive.busy}
                      onClick={() => run({ execution_id: l.execution_id })}
                      aria-label={`redrive execution ${l.execution_id}`}
                    >
                      Redrive
                    </button>
                  </td>
                ) : null}
              </tr>
            ))}
          </tbody>
        </Table>
      ) : null}
    </div>
  );
}
