// Hot reload: watch the rule directories, reload the whole set after a quiet
// moment, and hand over the new set only when every file is valid. A bad file
// is reported and the previous set stays active.
import { watch, type FSWatcher } from 'node:fs';
import { loadRules, RuleLoadError, ruleDirs, type RuleSet } from './loader.js';
import type { StageContext } from '../stage.js';

export interface RuleWatcher {
  close(): void;
}

export function watchRules(
  dirs: string[],
  opts: { debounceMs?: number; onLoad(set: RuleSet): void; onError(err: RuleLoadError | Error): void },
): RuleWatcher {
  const debounce = opts.debounceMs ?? 250;
  let timer: NodeJS.Timeout | undefined;
  const reload = () => {
    timer = undefined;
    let set: RuleSet;
    try {
      set = loadRules(dirs);
    } catch (err) {
      opts.onError(err as Error);
      return;
    }
    opts.onLoad(set);
  };
  const schedule = (_event: string, file: string | Buffer | null) => {
    if (file && !/\.ya?ml$/.test(String(file))) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(reload, debounce);
    timer.unref();
  };
  const watchers: FSWatcher[] = [];
  for (const dir of dirs) {
    try {
      const w = watch(dir, { persistent: false }, schedule);
      w.on('error', (err) => opts.onError(err));
      watchers.push(w);
    } catch (err) {
      opts.onError(err as Error);
    }
  }
  return {
    close() {
      if (timer) clearTimeout(timer);
      for (const w of watchers) w.close();
    },
  };
}

/**
 * Hot reload for a rules stage: watch the configured rule directories and
 * hand each valid new set to `apply`; count and log the outcome. A refused
 * change leaves the previous set active.
 */
export function hotReload(ctx: StageContext, stage: string, apply: (set: RuleSet) => void): RuleWatcher {
  const reloads = ctx.metrics.counter('trailwatch_rules_reloads_total', 'Rule set reloads.', ['result']);
  const log = ctx.log.child({ stage });
  return watchRules(ruleDirs(ctx.config.rules), {
    onLoad: (next) => {
      apply(next);
      reloads.inc({ result: 'ok' });
      log.info({ rules: next.rules.length }, 'rules reloaded');
    },
    onError: (err) => {
      reloads.inc({ result: 'refused' });
      log.error({ issues: err instanceof RuleLoadError ? err.issues : [err.message] }, 'rule change refused; the previous rules stay active');
    },
  });
}
