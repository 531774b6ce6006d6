import type { Outputs } from '../api.ts';
import { useState } from 'react';
import { useLiveQuery, useNow } from '../live.tsx';
import { Badge, Empty, ErrorNote, formatNumber, Id, Loading, State, Table } from '../ui.tsx';
import { Chart } from './Chart.tsx';

type SwarmView = Outputs['swarm']['list']['swarms'][number];
type MemberView = SwarmView['members'][number];

const STATES = ['active', 'suspect', 'failed', 'left'] as const;

function sinceHeartbeat(m: MemberView, now: number): string {
  if (!m.last_heartbeat_at) return 'never';
  return `${Math.max(0, Math.round((now - Date.parse(m.last_heartbeat_at)) / 1000))} s ago`;
}

function Counts({ counts }: { counts: Record<(typeof STATES)[number], number> }) {
  return (
    <span className="counts" data-testid="member-counts">
      {STATES.map((s) => (
        <Badge key={s} tone={counts[s] > 0 ? ({ active: 'ok', suspect: 'warn', failed: 'bad', left: 'muted' } as const)[s] : 'muted'}>
          {counts[s]} {s}
        </Badge>
      ))}
    </span>
  );
}

function Swarm({ swarm, now, charted, onChart }: { swarm: SwarmView; now: number; charted: boolean; onChart: () => void }) {
  return (
    <section className="card" data-testid="swarm" data-swarm-id={swarm.swarm_id}>
      <header className="card-head">
        <h3>{swarm.capability}</h3>
        <State value={swarm.status} />
        <State value={swarm.coordination_status} />
        <Counts counts={swarm.member_counts} />
        <span className="spacer" />
        <Id value={swarm.swarm_id} />
        <button type="button" className="link" onClick={onChart} aria-pressed={charted}>
          {charted ? 'charted' : 'chart'}
        </button>
      </header>
      <p className="muted small">
        Silent {swarm.suspect_after_seconds} s: suspect · {swarm.fail_after_seconds} s: failed
      </p>
      {swarm.members.length === 0 ? (
        <p className="muted">Every member left. Join again with `aitbc swarm join --swarm-id {swarm.swarm_id} …`.</p>
      ) : (
        <Table label="members">
          <thead>
            <tr>
              <th>member</th>
              <th>health</th>
              <th className="num">last heartbeat</th>
              <th className="num">reputation</th>
              <th>role</th>
              <th>capability</th>
              <th>region</th>
            </tr>
          </thead>
          <tbody>
            {swarm.members.map((m) => (
              <tr key={m.member_id} data-testid="member">
                <td>
                  <Id value={m.member_id} />
                </td>
                <td>
                  <State value={m.status} />
                </td>
                <td className="num">{sinceHeartbeat(m, now)}</td>
                <td className="num">
                  <span className="meter" title={String(m.reputation)}>
                    <span style={{ width: `${m.reputation * 100}%` }} />
                  </span>{' '}
                  {formatNumber(m.reputation, 3)}
                </td>
                <td>{m.role}</td>
                <td>{m.capability}</td>
                <td>{m.region ?? '–'}</td>
              </tr>
            ))}
          </tbody>
        </Table>
      )}
    </section>
  );
}

export function Swarms() {
  const now = useNow();
  const [charted, setCharted] = useState<string | null>(null);
  const { data, error, loading } = useLiveQuery((api) => api.swarm.list.query({ limit: 50 }), []);
  if (loading) return <Loading />;
  const swarms = data?.swarms ?? [];
  const totals = { active: 0, suspect: 0, failed: 0, left: 0 };
  for (const s of swarms) for (const k of STATES) totals[k] += s.member_counts[k];
  const chartFor = swarms.find((s) => s.swarm_id === charted) ?? swarms[0];
  return (
    <div className="view" data-testid="view-swarms">
      <div className="view-head">
        <h2>Swarms</h2>
        {data ? (
          <span className="muted">
            {data.total_count} swarm{data.total_count === 1 ? '' : 's'} · members: <Counts counts={totals} />
          </span>
        ) : null}
      </div>
      <ErrorNote error={error} />
      {data && swarms.length === 0 ? (
        <Empty
          title="No swarms yet"
          commands={[
            'aitbc swarm join --role monitor --capability gpu -o json     # a member; prints its member_id',
            'aitbc swarm work --member MEMBER_ID --exec "your-command"   # does its work and votes',
          ]}
        >
          A swarm appears when its first member joins. Run a member and its worker:
        </Empty>
      ) : null}
      {chartFor ? (
        <section className="card">
          <header className="card-head">
            <h3>Throughput · {chartFor.capability}</h3>
            <Id value={chartFor.swarm_id} />
          </header>
          <Chart key={chartFor.swarm_id} scope="swarm" id={chartFor.swarm_id} />
        </section>
      ) : null}
      {swarms.map((s) => (
        <Swarm key={s.swarm_id} swarm={s} now={now} charted={s === chartFor} onChart={() => setCharted(s.swarm_id)} />
      ))}
    </div>
  );
}
