// The contract between decoders and rules: which event.action values exist and
// what they mean. Decoders set these; the rule pack matches on them. ECS
// categorisation fields (event.category/type/outcome) are set alongside.
//
// Counting convention: an event that stands for one login attempt carries
// `event.category: ["authentication"]`, `event.type: ["start"]` and
// `event.outcome`. Lines that only echo an attempt already counted (the PAM
// line sshd writes next to "Failed password", "Connection closed … [preauth]",
// "PAM 2 more authentication failures") carry `event.type: ["info"]` so that
// threshold rules do not count one attempt twice. "message repeated N times"
// sets `event.count: N` and rules weigh the event by it.
// Decoders keep a small per-process ledger (host + pid) so that whichever line
// of an attempt comes first counts and the others are "info": "Invalid user X"
// counts once for the connection and its first "Failed password for invalid
// user X" does not; a PAM-only log (no sshd "Failed" lines) still counts each
// PAM failure. Summaries count only what no earlier line counted, with
// `event.count`: "PAM 2 more authentication failures", sudo's "3 incorrect
// password attempts" (the pam_unix(sudo:auth) line counted the first). The
// "none" method probe ("Failed none for …") never counts. So:
//   failed attempts = Σ event.count ?? 1 over events with category
//   authentication, type start, outcome failure.
export const ACTIONS = {
  // sshd
  sshLogin: 'ssh-login', // Accepted/Failed <method> for [invalid user] U from IP; trailwatch.auth.method
  sshInvalidUser: 'ssh-invalid-user', // "Invalid user U from IP" (an attempt, failure)
  sshMaxAuthTries: 'ssh-max-auth-tries', // maximum authentication attempts exceeded / Too many authentication failures
  sshPreauthClose: 'ssh-preauth-close', // Connection closed / Disconnecting (invalid|authenticating) user … [preauth]
  sshDisconnect: 'ssh-disconnect', // Received disconnect / Disconnected from
  sshRootRefused: 'ssh-root-login-refused', // ROOT LOGIN REFUSED
  sshNotAllowed: 'ssh-user-not-allowed', // User U from H not allowed because …
  sshReverseMapping: 'ssh-reverse-mapping-failed', // reverse mapping checking … POSSIBLE BREAK-IN ATTEMPT
  sshConnectionError: 'ssh-connection-error', // scanners: no identification string, unable to negotiate, bad banner, timeout before auth
  // The client gave up before a credential line was logged: "Received disconnect from IP port N:14: No more user
  // authentication methods available" (SSH2_DISCONNECT_NO_MORE_AUTH_METHODS_AVAILABLE) or JSch's ":3:
  // com.jcraft.jsch.JSchException: Auth fail|Auth cancel". One failed attempt (type start) only when no line of the
  // same connection (host + pid) counted one; otherwise an echo (type info). ledger: state.ts abandonLine.
  sshAuthAbandoned: 'ssh-auth-abandoned',
  // tcp_wrappers (libwrap, any daemon): "refused connect from HOST", "… from HOST (IP)", "… from user@HOST".
  // A connection refused by hosts.allow/deny: network, type denied, outcome failure; not a login attempt.
  tcpwrapRefused: 'tcpwrap-refused',
  // PAM (any service)
  pamAuthFailure: 'pam-auth-failure', // pam_unix(svc:auth): authentication failure; … rhost= user=
  pamUserUnknown: 'pam-user-unknown', // pam_unix(svc:auth): check pass; user unknown
  pamMoreFailures: 'pam-more-failures', // PAM N more authentication failure(s)
  pamAccountLocked: 'pam-account-locked', // pam_faillock: Consecutive login failures for user U account temporarily locked
  sessionOpened: 'session-opened', // pam_unix(svc:session): session opened for user U by …
  sessionClosed: 'session-closed',
  // other login services on the same hosts (one attempt per line unless noted)
  kloginFailure: 'krb-login-failure', // MIT krb5 klogind/kshd "Authentication failed from HOST (IP): reason"
  gdmLoginFailure: 'gdm-login-failure', // old GDM "Couldn't authenticate user" (echoes its gdm PAM line, see pam.ts)
  ftpLogin: 'ftp-login', // vsftpd OK/FAIL LOGIN: Client "IP"; wu-ftpd ANONYMOUS FTP LOGIN / FAILED FTP LOGIN FROM H [IP]; outcome success|failure
  // su / login / sudo
  suFailure: 'su-failure', // FAILED SU (to root) U on pts/0 | pam_unix(su:auth) failure
  suSuccess: 'su-success', // (to root) U on pts/0 | Successful su
  loginFailure: 'login-failure', // FAILED LOGIN n FROM tty FOR user
  rootLogin: 'root-login', // ROOT LOGIN ON tty1
  loginSuccess: 'login-success', // LOGIN ON tty1 BY U (a non-root console/telnet login)
  logindSessionNew: 'logind-session-new', // systemd-logind: New session N of user U.
  logindSessionRemoved: 'logind-session-removed', // systemd-logind: Removed session N.
  sudoAuthFailure: 'sudo-auth-failure', // N incorrect password attempts ; TTY=… ; COMMAND=…
  sudoCommand: 'sudo-command', // U : TTY=pts/0 ; PWD=/ ; USER=root ; COMMAND=/bin/x → process.command_line, user.target.name
  sudoNotAllowed: 'sudo-not-allowed', // user NOT in sudoers / command not allowed
  sudoCommandContinued: 'sudo-command-continued', // U : (command continued) … — the tail of a long COMMAND= split by sudo
  // auditd
  execve: 'process-execve', // type=EXECVE argc=N a0=… → process.args, process.command_line
  auditSyscall: 'audit-syscall', // type=SYSCALL … exe= comm= uid= auid= (lends exe/uid to the EXECVE of the same serial)
  auditRecord: 'audit-record', // any other audit record (PATH, CWD, PROCTITLE, SERVICE_STOP, …): its fields under auditd.data.*
  // gateway session log (trailwatch.session.*)
  gatewayLogin: 'gateway-login', // operator authenticated (or failed) at the gateway
  gatewaySessionStart: 'gateway-session-start', // session to account@target began (trailwatch.session.*)
  gatewayForwarding: 'gateway-forwarding', // forwarding use or refusal; event.reason local-|remote-|agent-|x11-forwarding (trailwatch.forwarding.*)
  gatewaySessionEnd: 'gateway-session-end',
  gatewaySessionTerminated: 'gateway-session-terminated', // an administrator ended a live session (event.reason; trailwatch.termination.by)
  gatewayCommand: 'gateway-command', // command line seen at Enter (process.command_line)
  gatewayCommandBlocked: 'gateway-command-blocked',
  gatewayTransfer: 'gateway-transfer', // trailwatch.transfer.status: requested|approved|denied|completed|refused
  gatewayRotation: 'gateway-rotation', // password rotation; outcome success|failure
  gatewayHostKeyMismatch: 'gateway-host-key-mismatch',
} as const;

// Tags decoders add (event `tags`):
//   log_injection_suspected: the line held more than one well-formed address
//   clause ("from IP port N", "IP port N", "rhost=IP", "Client \"IP\""), the
//   others in parts a client writes (user name, key info, disconnect text,
//   ruser/user, ftp password). source.ip is still the one the daemon wrote,
//   found by the message's fixed structure (fields.ts splitUserFrom et al.).

export type Action = (typeof ACTIONS)[keyof typeof ACTIONS];

/** event.dataset values (which source a decoded event came from). */
export const DATASETS = {
  sshd: 'system.auth.sshd',
  pam: 'system.auth.pam',
  su: 'system.auth.su',
  login: 'system.auth.login',
  sudo: 'system.auth.sudo',
  auditd: 'auditd.log',
  gateway: 'trailwatch.gateway',
  kerberos: 'system.auth.kerberos',
  gdm: 'system.auth.gdm',
  ftp: 'system.auth.ftp',
  tcpwrap: 'system.auth.tcpwrap',
  syslog: 'syslog',
} as const;
