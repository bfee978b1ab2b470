// The syslog receiver stage: UDP, TCP and TLS listeners feeding the raw topic.
import type { AddressInfo } from 'node:net';
import type { Stage, StageContext } from '../../stage.js';
import { Ingest } from './core.js';
import { ConnectionLimit } from './limits.js';
import { KernelDrops } from './procnet.js';
import { startTcp, startTls, type StreamListener } from './tcp.js';
import { startUdp, type UdpListener } from './udp.js';

/** How often the kernel's UDP drop counts are read into the metric (and once more on stop). */
export const KERNEL_DROPS_EVERY_MS = 5000;

export { SyslogParser, type Receipt } from './parse.js';
export { Framer } from './framing.js';

export interface SyslogAddresses {
  udp: AddressInfo[];
  tcp?: AddressInfo;
  tls?: AddressInfo;
}

export interface SyslogStage extends Stage {
  /** Where the listeners are bound (ports chosen by the OS when configured as 0). */
  addresses(): SyslogAddresses;
}

export function syslogEnabled(cfg: StageContext['config']): boolean {
  return cfg.syslog.udp.enabled || cfg.syslog.tcp.enabled || cfg.syslog.tls.enabled;
}

export function createSyslogStage(ctx: StageContext): SyslogStage {
  const cfg = ctx.config.syslog;
  const core = new Ingest(ctx, cfg);
  const limit = new ConnectionLimit(cfg.max_connections, cfg.max_connections_per_source);
  let udp: UdpListener[] = [];
  let drops: KernelDrops | undefined;
  let dropTimer: NodeJS.Timeout | undefined;
  const readDrops = () => core.metrics.kernelDrops.inc(drops?.read() ?? 0);
  let tcp: StreamListener | undefined;
  let tls: StreamListener | undefined;

  const addresses = (): SyslogAddresses => ({
    udp: udp.map((u) => u.address()),
    tcp: tcp?.address(),
    tls: tls?.address(),
  });

  const closeAll = async () => {
    clearInterval(dropTimer);
    readDrops();
    await Promise.all([...udp.map((u) => u.close()), tcp?.close(), tls?.close()]);
    await core.idle();
    core.notices.flush();
  };

  return {
    name: 'ingest.syslog',
    addresses,
    async start() {
      try {
        if (cfg.udp.enabled) {
          udp = await startUdp(core);
          drops = new KernelDrops(udp.map((u) => u.address().port));
          if (drops.total === null) ctx.log.debug('syslog: no /proc/net/udp here; UDP kernel drops are not counted');
          else dropTimer = setInterval(readDrops, KERNEL_DROPS_EVERY_MS).unref();
        }
        if (cfg.tcp.enabled) tcp = await startTcp(core, limit);
        if (cfg.tls.enabled) tls = await startTls(core, limit);
      } catch (err) {
        await closeAll();
        throw err;
      }
      const a = addresses();
      ctx.log.info(
        {
          udp: a.udp.map((x) => `${x.address}:${x.port}`),
          tcp: a.tcp ? `${a.tcp.address}:${a.tcp.port}` : null,
          tls: a.tls ? `${a.tls.address}:${a.tls.port}` : null,
          udpPort: a.udp[0]?.port ?? null,
          tcpPort: a.tcp?.port ?? null,
          tlsPort: a.tls?.port ?? null,
        },
        'syslog listening',
      );
    },
    async stop() {
      await closeAll();
    },
    // Saturation is reported, not unhealthy: a 503 would have an orchestrator
    // restart or unroute the receiver, dropping every connection it serves.
    health() {
      return {
        ok: true,
        connections: limit.open,
        max_connections: limit.max,
        max_connections_per_source: limit.perSource,
        sources: limit.sources,
        saturated: limit.saturated,
        refused: { ...limit.refused },
        udp_kernel_drops: drops?.total ?? null,
      };
    },
  };
}
