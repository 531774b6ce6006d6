import type { Outputs } from '../api.ts';
import { type RefObject, useEffect, useRef, useState } from 'react';
import { useLiveQuery } from '../live.tsx';
import { ErrorNote, formatNumber, formatSeconds, Loading } from '../ui.tsx';

type HistoryView = Outputs['history']['throughput'];

const H = 170;
const PAD = { left: 34, right: 44, top: 12, bottom: 22 };

/** A "nice" upper bound for an axis: 1, 2 or 5 times a power of ten. */
function niceMax(n: number): number {
  if (n <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(n));
  return [1, 2, 5, 10].map((m) => m * p).find((v) => v >= n)!;
}

/** The element's width in CSS pixels, followed as it changes: the chart is drawn at its real size, so its text stays legible. */
function useWidth<E extends HTMLElement>(): [RefObject<E | null>, number] {
  const ref = useRef<E>(null);
  const [width, setWidth] = useState(640);
  useEffect(() => {
    const element = ref.current;
    if (!element) return;
    const observer = new ResizeObserver(([entry]) => entry && setWidth(Math.max(200, Math.floor(entry.contentRect.width))));
    observer.observe(element);
    return () => observer.disconnect();
  }, []);
  return [ref, width];
}

function Plot({ view, width: W }: { view: HistoryView; width: number }) {
  const points = view.points;
  const maxCount = niceMax(Math.max(...points.map((p) => p.completed + p.failed)));
  const p95s = points.map((p) => p.p95_task_time).filter((v): v is number => v !== null);
  const maxP95 = niceMax(Math.max(0, ...p95s));
  const iw = W - PAD.left - PAD.right;
  const ih = H - PAD.top - PAD.bottom;
  const step = iw / points.length;
  const y = (v: number, max: number) => PAD.top + ih - (v / max) * ih;
  const line = points
    .map((p, i) => (p.p95_task_time === null ? null : `${PAD.left + step * (i + 0.5)},${y(p.p95_task_time, maxP95)}`))
    .filter(Boolean)
    .join(' ');
  const time = (iso: string) => new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  return (
    <svg
      viewBox={`0 0 ${W} ${H}`}
      width={W}
      height={H}
      className="chart-svg"
      role="img"
      aria-label="completed attempts per minute (bars) and p95 task time (line)"
    >
      {[0, 0.5, 1].map((f) => (
        <g key={f}>
          <line x1={PAD.left} x2={W - PAD.right} y1={PAD.top + ih * (1 - f)} y2={PAD.top + ih * (1 - f)} className="grid" />
          <text x={PAD.left - 4} y={PAD.top + ih * (1 - f) + 4} className="axis" textAnchor="end">
            {formatNumber(maxCount * f, 1)}
          </text>
          <text x={W - PAD.right + 4} y={PAD.top + ih * (1 - f) + 4} className="axis axis-p95">
            {formatSeconds(maxP95 * f)}
          </text>
        </g>
      ))}
      {points.map((p, i) => {
        const x = PAD.left + step * i + step * 0.12;
        const w = Math.max(1, step * 0.76);
        return (
          <g key={p.at}>
            <title>{`${time(p.at)}: ${p.completed} completed, ${p.failed} failed, p95 ${formatSeconds(p.p95_task_time)}`}</title>
            {p.completed > 0 ? (
              <rect x={x} width={w} y={y(p.completed, maxCount)} height={ih - (y(p.completed, maxCount) - PAD.top)} className="bar" />
            ) : null}
            {p.failed > 0 ? (
              <rect
                x={x}
                width={w}
                y={y(p.completed + p.failed, maxCount)}
                height={y(p.completed, maxCount) - y(p.completed + p.failed, maxCount)}
                className="bar-failed"
              />
            ) : null}
          </g>
        );
      })}
      {line ? <polyline points={line} className="p95" /> : null}
      {points.map((p, i) =>
        p.p95_task_time === null ? null : (
          <circle key={`p95-${p.at}`} cx={PAD.left + step * (i + 0.5)} cy={y(p.p95_task_time, maxP95)} r={2.5} className="p95-dot" />
        ),
      )}
      {[0, Math.floor(points.length / 2), points.length - 1].map((i) =>
        points[i] ? (
          <text key={i} x={PAD.left + step * (i + 0.5)} y={H - 6} className="axis" textAnchor="middle">
            {time(points[i]!.at)}
          </text>
        ) : null,
      )}
    </svg>
  );
}

/** Throughput and p95 task time per minute over the last hour, computed by the server from the attempt records. */
export function Chart({ scope, id }: { scope: 'network' | 'swarm'; id: string }) {
  const { data, error } = useLiveQuery(
    (api) => api.history.throughput.query(scope === 'network' ? { network_id: id, minutes: 60 } : { swarm_id: id, minutes: 60 }),
    [scope, id],
    5000,
  );
  const [ref, width] = useWidth<HTMLDivElement>();
  return (
    <figure className="chart" data-testid="chart">
      <figcaption>
        <strong>Last hour</strong>
        {data ? (
          <span className="muted" data-testid="chart-totals">
            {' '}
            {data.totals.completed} completed ({formatNumber(data.totals.throughput)}/min), {data.totals.failed} failed · p95 task time{' '}
            {formatSeconds(data.totals.p95_task_time)}
          </span>
        ) : null}
        <span className="legend">
          <i className="key-bar" /> completed/min <i className="key-failed" /> failed <i className="key-line" /> p95
        </span>
      </figcaption>
      <ErrorNote error={error} />
      <div ref={ref}>{data ? <Plot view={data} width={width} /> : error ? null : <Loading />}</div>
    </figure>
  );
}
