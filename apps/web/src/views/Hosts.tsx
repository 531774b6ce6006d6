import { useState } from 'react';
import { describe, type ErrorInfo, type Outputs } from '../api.ts';
import { useLive, useLiveQuery } from '../live.tsx';
import { Badge, Empty, ErrorNote, formatNumber, Id, Loading, Table } from '../ui.tsx';

type HostView = Outputs['host']['list']['hosts'][number];

function HostState({ host }: { host: HostView }) {
  if (host.quarantined)
    return (
      <Badge tone="bad" title={`no work until ${host.quarantined_until} unless lifted`}>
        quarantined
      </Badge>
    );
  if (onProbation(host))
    return (
      <Badge tone="muted" title={`a result awaits its check: no new work of its own until then, at most until ${host.probation_until}`}>
        on probation
      </Badge>
    );
  return host.trusted ? <Badge tone="ok">trusted</Badge> : <Badge tone="muted">untrusted</Badge>;
}

const onProbation = (h: HostView) => h.probation_until !== null && new Date(h.probation_until).getTime() > Date.now();

/**
 * Hosts (README "Verification"): each agent's or member's checked results, its trust, probation and quarantine, with
 * the time a quarantine ends and, for an owner key, a button that lifts it now.
 */
export function Hosts({ canLift }: { canLift: boolean }) {
  const { api } = useLive();
  // Read again after a lift (which changes no work, so no live change tells the view).
  const [lifts, setLifts] = useState(0);
  const { data, error, loading } = useLiveQuery((a) => a.host.list.query({ limit: 500 }), [lifts], 1000);
  const [lifting, setLifting] = useState<string | null>(null);
  const [liftError, setLiftError] = useState<ErrorInfo | null>(null);
  if (loading) return <Loading />;
  const hosts = data?.hosts ?? [];
  const quarantined = hosts.filter((h) => h.quarantined).length;
  const trusted = hosts.filter((h) => h.trusted).length;
  const lift = async (id: string) => {
    setLifting(id);
    setLiftError(null);
    try {
      await api.host.lift.mutate({ host_id: id });
      setLifts((n) => n + 1);
    } catch (e) {
      setLiftError(describe(e));
    } finally {
      setLifting(null);
    }
  };
  return (
    <div className="view" data-testid="view-hosts">
      <div className="view-head">
        <h2>Hosts</h2>
        {data ? (
          <span className="muted" data-testid="host-totals">
            {data.total_count} with a validation record · {trusted} trusted · {quarantined} quarantined
          </span>
        ) : null}
      </div>
      <ErrorNote error={error ?? liftError} />
      {data && hosts.length === 0 ? (
        <Empty
          title="No checked results yet"
          commands={['aitbc agent network create --name verified --agents a1,a2,a3 --verification adaptive', 'aitbc hosts list']}
        >
          A host gets a validation record once a network or task that verifies results compares its result with others’:
        </Empty>
      ) : null}
      {hosts.length ? (
        <Table testId="hosts" label="hosts">
          <thead>
            <tr>
              <th>host</th>
              <th>state</th>
              <th className="num">valid</th>
              <th className="num">invalid</th>
              <th className="num">streak</th>
              <th title="the last 10 checked results, oldest first: v valid, x invalid">recent</th>
              <th className="num">reputation</th>
              <th>quarantined until</th>
            </tr>
          </thead>
          <tbody>
            {hosts.map((h) => (
              <tr
                key={h.host_id}
                data-testid="host"
                data-host-id={h.host_id}
                data-state={h.quarantined ? 'quarantined' : onProbation(h) ? 'probation' : h.trusted ? 'trusted' : 'untrusted'}
              >
                <td>
                  {h.name ?? h.kind} {h.host ? <span className="muted small">on {h.host}</span> : null} <Id value={h.host_id} />
                </td>
                <td>
                  <HostState host={h} />
                </td>
                <td className="num">{h.valid}</td>
                <td className="num">{h.invalid}</td>
                <td className="num">{h.valid_streak}</td>
                <td>
                  <code>{h.recent || '–'}</code>
                </td>
                <td className="num">{formatNumber(h.reputation, 3)}</td>
                <td className="small">
                  {h.quarantined && h.quarantined_until ? (
                    <>
                      {new Date(h.quarantined_until).toLocaleTimeString()}{' '}
                      {canLift ? (
                        <button type="button" className="secondary" disabled={lifting === h.host_id} onClick={() => void lift(h.host_id)}>
                          Lift
                        </button>
                      ) : null}
                    </>
                  ) : (
                    <span className="muted">–</span>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </Table>
      ) : null}
    </div>
  );
}
