import { useLiveQuery } from '../live.tsx';
import { Badge, Empty, ErrorNote, Loading, Table } from '../ui.tsx';

/** Admins only: every owner with keys or objects, and what each runs. */
export function Owners() {
  const { data, error, loading } = useLiveQuery((api) => api.live.owners.query(), [], 2000);
  if (loading) return <Loading />;
  return (
    <div className="view" data-testid="view-owners">
      <div className="view-head">
        <h2>All owners</h2>
        <span className="muted">admin view: the other pages show only this key’s own objects</span>
      </div>
      <ErrorNote error={error} />
      {data && data.owners.length === 0 ? <Empty title="No owners yet" commands={['aitbc keys create --owner alice']} /> : null}
      {data?.owners.length ? (
        <Table testId="owners" label="owners">
          <thead>
            <tr>
              <th>owner</th>
              <th className="num">keys</th>
              <th className="num">swarms</th>
              <th>members</th>
              <th className="num">active tasks</th>
              <th className="num">agents</th>
              <th className="num">networks</th>
              <th className="num">active executions</th>
            </tr>
          </thead>
          <tbody>
            {data.owners.map((o) => (
              <tr key={o.owner_id} data-testid="owner" data-owner-id={o.owner_id}>
                <td>
                  <strong>{o.owner_id}</strong>
                </td>
                <td className="num">{o.keys}</td>
                <td className="num">{o.swarms}</td>
                <td>
                  <Badge tone={o.members.active ? 'ok' : 'muted'}>{o.members.active} active</Badge>{' '}
                  {o.members.suspect ? <Badge tone="warn">{o.members.suspect} suspect</Badge> : null}{' '}
                  {o.members.failed ? <Badge tone="bad">{o.members.failed} failed</Badge> : null}
                </td>
                <td className="num">{o.tasks_active}</td>
                <td className="num">{o.agents}</td>
                <td className="num">{o.networks}</td>
                <td className="num">{o.executions_active}</td>
              </tr>
            ))}
          </tbody>
        </Table>
      ) : null}
    </div>
  );
}
