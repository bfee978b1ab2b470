// Facility and severity names for ECS log.syslog.{facility,severity}.name:
// facility keywords as rsyslog prints them (ECS example "local7"), severities
// spelled out as in RFC 5424 table 2 (ECS example "Error").
export const FACILITY_NAMES: readonly string[] = [
  'kern', 'user', 'mail', 'daemon', 'auth', 'syslog', 'lpr', 'news',
  'uucp', 'cron', 'authpriv', 'ftp', 'ntp', 'security', 'console', 'solaris-cron',
  'local0', 'local1', 'local2', 'local3', 'local4', 'local5', 'local6', 'local7',
];

export const SEVERITY_NAMES: readonly string[] = ['Emergency', 'Alert', 'Critical', 'Error', 'Warning', 'Notice', 'Informational', 'Debug'];
