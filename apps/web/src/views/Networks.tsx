import type { Objective } from '@aitbc/core';
import { useState } from 'react';
import type { Outputs } from '../api.ts';
import { useLiveQuery } from '../live.tsx';
import { Backups, Badge, Empty, ErrorNote, formatNumber, formatRate, formatSeconds, Id, Loading, Progress, State, Table } from '../ui.tsx';
import { Chart } from './Chart.tsx';

type NetworkView = Outputs['network']['list']['networks'][number];
/** The core's objectives (not imported: the core's schemas would bring zod into the bundle). */
const OBJECTIVES = ['speed', 'efficiency', 'cost', 'quality'] as const satisfies readonly Objective[];

function Metrics({ network }: { network: NetworkView }) {
  const { data, error } = useLiveQuery((api) => api.network.status.query({ network_id: network.id }), [network.id], 1000);
  const m = data?.performance_metrics;
  return (
    <section className="card">
      <header className="card-head">
        <h3>Agents</h3>
        {data ? (
          <span className="muted small">
            {data.active_tasks} active of {data.total_executions} executions · queue {m?.queue_depth ?? 0} · in flight {m?.in_flight ?? 0} ·
            success {formatRate(m?.success_rate)} · p95 execution {formatSeconds(m?.p95_execution_time)}
          </span>
        ) : null}
      </header>
      <ErrorNote error={error} />
      {m?.agents ? (
        <Table testId="agents" label="agents">
          <thead>
            <tr>
              <th>agent</th>
              <th>live</th>
              <th className="num">load</th>
              <th className="num">failure rate</th>
              <th className="num">mean task</th>
              <th className="num">completed</th>
              <th className="num">failed</th>
              <th className="num">expired</th>
            </tr>
          </thead>
          <tbody>
            {m.agents.map((a) => (
              <tr key={a.agent_id}>
                <td>
                  {a.name ?? <span className="muted">(deleted)</span>} <Id value={a.agent_id} />
                </td>
                <td>{a.live ? <Badge tone="ok">live</Badge> : <Badge tone="muted">absent</Badge>}</td>
                <td className="num">{a.open_subtasks}</td>
                <td className="num">{formatRate(a.failure_rate)}</td>
                <td className="num">{formatSeconds(a.avg_task_time)}</td>
                <td className="num">{a.completed}</td>
                <td className="num">{a.failed}</td>
                <td className="num">{a.expired}</td>
              </tr>
            ))}
          </tbody>
        </Table>
      ) : null}
    </section>
  );
}

/** A network under a verification policy (README "Verification"): what it validated, cost and caught. */
function Verification({ network }: { network: NetworkView }) {
  const { data, error } = useLiveQuery(
    (api) => api.network.status.query({ network_id: network.id, metrics: 'queue_depth' }),
    [network.id],
    1000,
  );
  const policy = network.verification;
  if (policy.policy === 'none') return null;
  const v = data?.verification;
  const rule =
    policy.policy === 'replicate'
      ? `${policy.copies} copies, quorum ${policy.quorum}`
      : `quorum ${policy.quorum}, trusted after ${policy.trust_after}, spot checks ${formatRate(policy.spot_check_rate)}`;
  return (
    <section className="card" data-testid="verification">
      <header className="card-head">
        <h3>Verification</h3>
        <span className="muted small">
          {policy.policy}: {rule}, at most {policy.max_copies} copies · {policy.comparator}
        </span>
      </header>
      <ErrorNote error={error} />
      {v ? (
        <dl className="evidence">
          <div>
            <dt>validated</dt>
            <dd data-testid="validated">{v.subtasks_validated}</dd>
          </div>
          <div>
            <dt>inconclusive</dt>
            <dd>{v.subtasks_inconclusive}</dd>
          </div>
          <div>
            <dt>compute overhead</dt>
            <dd data-testid="overhead">{v.compute_overhead === null ? '–' : `${formatNumber(v.compute_overhead, 2)}×`}</dd>
          </div>
          <div>
            <dt>replicas launched</dt>
            <dd>{v.replicas_launched}</dd>
          </div>
          <div>
            <dt>invalid results caught</dt>
            <dd data-testid="invalid">{v.invalid_results}</dd>
          </div>
        </dl>
      ) : null}
    </section>
  );
}

function Executions({ network }: { network: NetworkView }) {
  const { data, error } = useLiveQuery((api) => api.execution.list.query({ network_id: network.id, limit: 10 }), [network.id]);
  return (
    <section className="card">
      <header className="card-head">
        <h3>Executions</h3>
        {data ? (
          <span className="muted small">
            newest {data.executions.length} of {data.total_count}
          </span>
        ) : null}
      </header>
      <ErrorNote error={error} />
      {data && data.executions.length === 0 ? (
        <Empty title="No executions yet" commands={[`aitbc agent network execute ${network.id} --task task.json --wait`]} />
      ) : null}
      {data?.executions.length ? (
        <Table testId="executions" label="executions">
          <thead>
            <tr>
              <th>execution</th>
              <th>status</th>
              <th className="wide">progress</th>
              <th className="num">subtasks</th>
              <th title="backup copies of straggling subtasks: launched, won, time saved (estimated)">backups</th>
              <th>created</th>
            </tr>
          </thead>
          <tbody>
            {data.executions.map((e) => (
              <tr key={e.id}>
                <td>
                  <Id value={e.id} />
                </td>
                <td>
                  <State value={e.status} />
                </td>
                <td>
                  <Progress
                    value={e.status === 'completed' ? 100 : e.progress.total ? (e.progress.completed / e.progress.total) * 100 : 0}
                    label={`progress of execution ${e.id}`}
                  />
                </td>
                <td className="num">
                  {e.progress.completed}/{e.progress.total}
                  {e.progress.failed ? ` (${e.progress.failed} failed)` : ''}
                </td>
                <td className="small" data-testid="backups">
                  <Backups value={e.speculation} />
                </td>
                <td className="small">{new Date(e.created_at).toLocaleTimeString()}</td>
              </tr>
            ))}
          </tbody>
        </Table>
      ) : null}
    </section>
  );
}

function Recommendations({ network }: { network: NetworkView }) {
  const [objective, setObjective] = useState<Objective>('efficiency');
  const { data, error } = useLiveQuery(
    (api) => api.network.optimize.query({ network_id: network.id, objective }),
    [network.id, objective],
    5000,
  );
  return (
    <section className="card" data-testid="recommendations">
      <header className="card-head">
        <h3>Recommendations</h3>
        <label className="small">
          objective{' '}
          <select value={objective} onChange={(e) => setObjective(e.target.value as Objective)}>
            {OBJECTIVES.map((o) => (
              <option key={o}>{o}</option>
            ))}
          </select>
        </label>
      </header>
      <ErrorNote error={error} />
      {data && data.recommendations.length === 0 ? (
        <p className="muted">Nothing to change: the records show no problem for this objective.</p>
      ) : null}
      {data?.recommendations.map((r) => (
        <div key={`${r.type}-${JSON.stringify(r.action)}`} className="recommendation">
          <p>
            <Badge tone={r.impact === 'high' ? 'bad' : r.impact === 'medium' ? 'warn' : 'muted'}>{r.impact}</Badge>{' '}
            <strong>{r.type.replace(/_/g, ' ')}</strong>: {r.description}
          </p>
          <p className="small muted">
            expected: {r.expected_impact.metric} {formatNumber(r.expected_impact.current, 3)} →{' '}
            {formatNumber(r.expected_impact.expected, 3)} · apply: <code>{JSON.stringify(r.action)}</code>
          </p>
          <dl className="evidence">
            {Object.entries(r.evidence).map(([k, v]) => (
              <div key={k}>
                <dt>{k}</dt>
                <dd>{typeof v === 'number' ? formatNumber(v, 3) : JSON.stringify(v)}</dd>
              </div>
            ))}
          </dl>
        </div>
      ))}
    </section>
  );
}

export function Networks() {
  const [selected, setSelected] = useState<string | null>(null);
  const { data, error, loading } = useLiveQuery((api) => api.network.list.query({ limit: 100 }), [], 2000);
  if (loading) return <Loading />;
  const networks = data?.networks ?? [];
  const network = networks.find((n) => n.id === selected) ?? networks[0];
  return (
    <div className="view" data-testid="view-networks">
      <div className="view-head">
        <h2>Networks</h2>
        {networks.length > 1 ? (
          <select aria-label="network" value={network?.id} onChange={(e) => setSelected(e.target.value)}>
            {networks.map((n) => (
              <option key={n.id} value={n.id}>
                {n.name}
              </option>
            ))}
          </select>
        ) : null}
        {network ? (
          <span className="muted">
            <strong>{network.name}</strong> · {network.coordination_strategy} · {network.agents.length} agents{' '}
            <State value={network.status} /> <Id value={network.id} />
          </span>
        ) : null}
      </div>
      <ErrorNote error={error} />
      {data && networks.length === 0 ? (
        <Empty
          title="No agent networks yet"
          commands={[
            'aitbc agent register --name a1 --capabilities gpu',
            'aitbc agent register --name a2 --capabilities gpu',
            'aitbc agent network create --name demo --agents a1,a2',
            'aitbc agent work --agent a1 --exec "your-command" &',
            'aitbc agent network execute NETWORK_ID --task task.json --wait',
          ]}
        >
          Group your agents into a network and give it work:
        </Empty>
      ) : null}
      {network ? (
        <div key={network.id}>
          <section className="card">
            <header className="card-head">
              <h3>Throughput · {network.name}</h3>
            </header>
            <Chart scope="network" id={network.id} />
          </section>
          <Metrics network={network} />
          <Verification network={network} />
          <Executions network={network} />
          <Recommendations network={network} />
        </div>
      ) : null}
    </div>
  );
}
