import { z } from 'zod';

export const jobsConfig = z.strictObject({}).prefault({}).describe('Scheduled jobs (node-cron).');
export type JobsConfig = z.infer<typeof jobsConfig>;
