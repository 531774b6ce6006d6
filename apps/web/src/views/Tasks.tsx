import type { Outputs } from '../api.ts';
import { useLiveQuery } from '../live.tsx';
import { Backups, Badge, Empty, ErrorNote, formatNumber, formatRate, Id, Loading, Progress, State, Table } from '../ui.tsx';

type TaskStatusView = Outputs['live']['tasks']['tasks'][number];
type ConsensusView = NonNullable<TaskStatusView['consensus']>;

function Votes({ consensus }: { consensus: ConsensusView }) {
  const reached = consensus.consensus_reached;
  const totalWeight = consensus.votes.reduce((n, v) => n + v.weight, 0);
  return (
    <div className="consensus" data-testid="consensus">
      <p className="consensus-head">
        <strong>Consensus</strong> <State value={consensus.status} /> <span className="muted">{consensus.consensus_algorithm}</span>
        {consensus.consensus_threshold !== null ? (
          <span className="muted"> · threshold {formatRate(consensus.consensus_threshold)}</span>
        ) : null}
        <span className="muted">
          {' '}
          · {consensus.participating_members.length} of {consensus.expected_votes} votes
        </span>
        {consensus.confidence_score !== null ? (
          <span data-testid="confidence">
            {' '}
            · confidence <strong>{formatRate(consensus.confidence_score)}</strong>
          </span>
        ) : null}
      </p>
      {consensus.reason ? <p className="muted small">{consensus.reason}</p> : null}
      {consensus.votes.length > 0 ? (
        <Table testId="votes" label="vote table">
          <thead>
            <tr>
              <th>result</th>
              <th className="num">count</th>
              <th className="num">weight</th>
              <th className="num">share</th>
              <th>members</th>
              <th>winner</th>
            </tr>
          </thead>
          <tbody>
            {consensus.votes.map((v, i) => {
              const winner = reached && i === 0;
              return (
                <tr key={v.result_hash} className={winner ? 'winner' : undefined} data-testid={winner ? 'winner' : 'vote'}>
                  <td>
                    <code>{v.preview}</code>
                  </td>
                  <td className="num">{v.count}</td>
                  <td className="num">{formatNumber(v.weight, 3)}</td>
                  <td className="num">{totalWeight > 0 ? formatRate(v.weight / totalWeight) : '–'}</td>
                  <td>{v.members.length}</td>
                  <td>{winner ? <Badge tone="ok">winner</Badge> : null}</td>
                </tr>
              );
            })}
          </tbody>
        </Table>
      ) : null}
    </div>
  );
}

function Task({ task }: { task: TaskStatusView }) {
  return (
    <section className="card" data-testid="task" data-task-id={task.task_id} data-status={task.status}>
      <header className="card-head">
        <h3>
          <code>{task.task_id}</code>
        </h3>
        <Badge tone="info">{task.strategy}</Badge>
        <State value={task.status} />
        <span className="muted small">
          {task.active_collaborators}/{task.total_collaborators} members active
          {task.leader ? ` · leader ${task.leader}` : ''}
          {task.speculation.backups_launched ? (
            <>
              {' · backups '}
              <Backups value={task.speculation} />
            </>
          ) : null}
          {task.verification ? (
            <span data-testid="task-verification">
              {' · '}
              {task.verification.policy}: {task.verification.subtasks_validated} validated, {task.verification.invalid_results} invalid
              {task.verification.subtasks_inconclusive ? `, ${task.verification.subtasks_inconclusive} inconclusive` : ''}
            </span>
          ) : null}
        </span>
        <span className="spacer" />
        <span className="muted small">swarm</span> <Id value={task.swarm_id} />
      </header>
      <Progress value={task.progress} label={`progress of ${task.task_id}`} />
      {task.error ? <p className="error-text">{task.error}</p> : null}
      <Table label="members of the task">
        <thead>
          <tr>
            <th>member</th>
            <th>membership</th>
            <th>work</th>
            <th className="num">done</th>
          </tr>
        </thead>
        <tbody>
          {task.members.map((m) => (
            <tr key={m.member_id}>
              <td>
                <Id value={m.member_id} />
              </td>
              <td>{m.membership ? <State value={m.membership} /> : '–'}</td>
              <td>
                <State value={m.state} />
              </td>
              <td className="num">
                {m.completed}/{m.subtasks}
              </td>
            </tr>
          ))}
        </tbody>
      </Table>
      {task.consensus ? <Votes consensus={task.consensus} /> : null}
      {task.result !== undefined && !task.consensus ? (
        <p className="small result">
          result <code>{JSON.stringify(task.result).slice(0, 300)}</code>
        </p>
      ) : null}
    </section>
  );
}

export function Tasks() {
  const { data, error, loading } = useLiveQuery((api) => api.live.tasks.query({ limit: 20 }), []);
  if (loading) return <Loading />;
  return (
    <div className="view" data-testid="view-tasks">
      <div className="view-head">
        <h2>Tasks</h2>
        {data ? (
          <span className="muted">
            {data.tasks.length < data.total_count ? `newest ${data.tasks.length} of ` : ''}
            {data.total_count} task{data.total_count === 1 ? '' : 's'}
          </span>
        ) : null}
      </div>
      <ErrorNote error={error} />
      {data && data.tasks.length === 0 ? (
        <Empty
          title="No coordination tasks yet"
          commands={[
            'aitbc swarm coordinate --task "what is 6*7" --strategy consensus --collaborators 3',
            'aitbc swarm coordinate --strategy map-reduce --items "[1,2,3,4]" --reduce sum',
          ]}
        >
          Hand your swarm a task; its members' `aitbc swarm work` workers do it and vote:
        </Empty>
      ) : null}
      {data?.tasks.map((t) => (
        <Task key={t.task_id} task={t} />
      ))}
    </div>
  );
}
