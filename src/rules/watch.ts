// Hot reload: watch the rule directories, reload the whole set after a quiet
// moment, and hand over the new set only when every file is valid. A bad file
// is reported and the previous set stays active.
import { watch, type FSWatcher } from 'node:fs';
import { loadRules, RuleLoadError, type RuleSet } from './loader.js';

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
