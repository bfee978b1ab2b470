// Headless Debian chromium driven by playwright-core, with a fresh profile.
import { chromium, type BrowserContext } from 'playwright-core';
import { tempDir } from './helpers.js';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export async function launchChromium(): Promise<{ ctx: BrowserContext; close(): Promise<void> }> {
  const profile = tempDir('tw-chromium-');
  const ctx = await chromium.launchPersistentContext(profile.dir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  return {
    ctx,
    close: async () => {
      await ctx.close().catch(() => {});
      profile.cleanup();
    },
  };
}
