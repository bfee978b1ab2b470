// The gateway's own settings (trailwatch.yaml `gateway:`). Who may reach what
// lives in the separate, reloadable policy file (policy.ts).
import { z } from 'zod';

export const gatewayConfig = z
  .strictObject({
    enabled: z.boolean().default(false).describe('Run the SSH gateway inside `trailwatch run` (else start it with `trailwatch gateway`).'),
    host: z.string().default('0.0.0.0').describe('Address the gateway SSH server listens on. Default 0.0.0.0.'),
    port: z.number().int().min(0).max(65535).default(2222).describe('Gateway SSH port. Default 2222.'),
    policy_file: z.string().default('./gateway-policy.yaml').describe('Policy YAML (operators, targets, grants, command rules); reloaded on SIGHUP and on change.'),
    host_key_file: z.string().optional().describe('Gateway SSH host key (OpenSSH/PEM private key). Default <data_dir>/gateway/host_key, generated (ed25519) when absent.'),
    secret_key: z.string().optional().describe('Secret: base64 32-byte AES-256-GCM key that encrypts pending passwords at rest. Env TRAILWATCH_GATEWAY__SECRET_KEY. Default: read secret_key_file.'),
    secret_key_file: z.string().optional().describe('File holding the key above (base64). Default <data_dir>/gateway/secret.key, created mode 0600 when absent.'),
    password_length: z.number().int().min(24).max(128).default(32).describe('Length of each generated account password (min 24). Default 32.'),
    connect_timeout_ms: z.number().int().min(500).default(10_000).describe('Timeout for SSH connections to targets. Default 10000.'),
    command_hold_ms: z.number().int().min(0).max(5000).default(250).describe('At Enter, wait up to this long for the echo to settle before reading the command line. Default 250.'),
    rotation: z
      .strictObject({
        cron: z.string().default('17 3 * * *').describe('node-cron expression for the sweep that rotates every managed account; "" disables. Default daily 03:17.'),
        rotate_on_start: z.boolean().default(false).describe('Run one sweep when the gateway starts. Default false.'),
      })
      .prefault({}),
    recording: z
      .strictObject({
        dir: z.string().optional().describe('Where asciicast recordings and session metadata go. Default <data_dir>/gateway/recordings.'),
        max_bytes: z.number().int().min(4096).default(64 * 1024 * 1024).describe('Cap per recording file; past it output is no longer recorded and the metadata says truncated. Default 64 MiB.'),
      })
      .prefault({}),
    login: z
      .strictObject({
        max_failures: z.number().int().min(1).default(5).describe('Failed logins per source address before it is blocked. Default 5.'),
        window_seconds: z.number().int().min(1).default(300).describe('Window over which failures are counted. Default 300.'),
        block_seconds: z.number().int().min(1).default(900).describe('How long a source stays blocked. Default 900.'),
      })
      .prefault({}),
    mfa: z
      .strictObject({
        mode: z
          .enum(['off', 'enrolled', 'required'])
          .default('enrolled')
          .describe('Second factor (TOTP over keyboard-interactive) after the operator key: "enrolled" asks operators who enrolled (`trailwatch mfa enroll OPERATOR`), "required" refuses operators who have not, "off" never asks. Default enrolled.'),
        issuer: z.string().min(1).default('trailwatch').describe('Issuer shown by authenticator apps for enrolments. Default trailwatch.'),
        max_tries: z.number().int().min(1).max(10).default(3).describe('Refused one-time codes on one connection before the gateway closes it. Default 3.'),
        throttle: z
          .strictObject({
            failures: z.number().int().min(1).default(5).describe('Refused codes for one operator, or from one address, within window_seconds before codes are no longer checked for a while. Default 5.'),
            window_seconds: z.number().int().min(1).default(600).describe('Window over which refused codes are counted. Default 600.'),
            backoff_seconds: z.number().int().min(1).default(60).describe('First wait once tripped; doubles at each further trip. Default 60.'),
            max_backoff_seconds: z.number().int().min(1).default(3600).describe('Longest wait. Default 3600.'),
          })
          .prefault({})
          .describe('Limits on guessing one-time codes across connections, per operator and per source address.'),
      })
      .prefault({}),
    approvals: z
      .strictObject({
        ttl_seconds: z.number().int().min(1).default(3600).describe('How long an approval covers its operator, target, path and direction. Default 3600.'),
      })
      .prefault({}),
    session_log: z
      .strictObject({
        url: z.string().url().optional().describe('Base URL of the session-log ingester (events are POSTed to <url>/v1/session-log). Unset: local file only.'),
        token: z.string().optional().describe('Secret: bearer token for the ingester. Env TRAILWATCH_GATEWAY__SESSION_LOG__TOKEN.'),
        batch_max: z.number().int().min(1).default(500).describe('Events per POST. Default 500.'),
        flush_ms: z.number().int().min(10).default(1000).describe('Send a batch at least this often. Default 1000.'),
      })
      .prefault({}),
  })
  .prefault({})
  .describe('SSH gateway (rotator/proxy).');
export type GatewayConfig = z.infer<typeof gatewayConfig>;
