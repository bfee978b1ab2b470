// Names auditd prints only when it interprets a record (ausearch -i,
// log_format=ENRICHED): the record type of the kernel's printk form
// ("audit: type=1309 …") and the syscall name of "syscall=59". Raw logs carry
// numbers; Sigma rules name them (type: EXECVE, syscall: execve).

/** Record type numbers (linux/audit.h, libaudit.h) of the records rules look at. */
export const RECORD_TYPES = new Map<string, string>([
  ['1100', 'USER_AUTH'],
  ['1101', 'USER_ACCT'],
  ['1105', 'USER_START'],
  ['1106', 'USER_END'],
  ['1112', 'USER_LOGIN'],
  ['1113', 'USER_LOGOUT'],
  ['1114', 'ADD_USER'],
  ['1115', 'DEL_USER'],
  ['1116', 'ADD_GROUP'],
  ['1117', 'DEL_GROUP'],
  ['1123', 'USER_CMD'],
  ['1124', 'USER_TTY'],
  ['1130', 'SERVICE_START'],
  ['1131', 'SERVICE_STOP'],
  ['1300', 'SYSCALL'],
  ['1302', 'PATH'],
  ['1305', 'CONFIG_CHANGE'],
  ['1306', 'SOCKADDR'],
  ['1307', 'CWD'],
  ['1309', 'EXECVE'],
  ['1319', 'TTY'],
  ['1320', 'EOE'],
  ['1327', 'PROCTITLE'],
]);

const X86_64 = new Map<string, string>(
  Object.entries({
    0: 'read', 1: 'write', 2: 'open', 3: 'close', 9: 'mmap', 10: 'mprotect', 16: 'ioctl', 21: 'access', 22: 'pipe',
    32: 'dup', 33: 'dup2', 41: 'socket', 42: 'connect', 43: 'accept', 44: 'sendto', 49: 'bind', 50: 'listen',
    56: 'clone', 57: 'fork', 58: 'vfork', 59: 'execve', 62: 'kill', 76: 'truncate', 77: 'ftruncate', 82: 'rename',
    83: 'mkdir', 84: 'rmdir', 85: 'creat', 86: 'link', 87: 'unlink', 88: 'symlink', 90: 'chmod', 91: 'fchmod',
    92: 'chown', 93: 'fchown', 94: 'lchown', 101: 'ptrace', 105: 'setuid', 106: 'setgid', 113: 'setreuid',
    114: 'setregid', 117: 'setresuid', 119: 'setresgid', 133: 'mknod', 157: 'prctl', 161: 'chroot',
    165: 'mount', 166: 'umount2', 169: 'reboot', 170: 'sethostname', 175: 'init_module', 176: 'delete_module',
    188: 'setxattr', 189: 'lsetxattr', 190: 'fsetxattr', 197: 'removexattr', 257: 'openat', 258: 'mkdirat',
    259: 'mknodat', 260: 'fchownat', 263: 'unlinkat', 264: 'renameat', 265: 'linkat', 266: 'symlinkat',
    268: 'fchmodat', 288: 'accept4', 310: 'process_vm_readv', 311: 'process_vm_writev', 313: 'finit_module',
    316: 'renameat2', 319: 'memfd_create', 321: 'bpf', 322: 'execveat',
  }),
);

const AARCH64 = new Map<string, string>(
  Object.entries({
    5: 'setxattr', 6: 'lsetxattr', 7: 'fsetxattr', 14: 'removexattr', 23: 'dup', 29: 'ioctl', 33: 'mknodat',
    34: 'mkdirat', 35: 'unlinkat', 36: 'symlinkat', 37: 'linkat', 38: 'renameat', 39: 'umount2', 40: 'mount',
    45: 'truncate', 46: 'ftruncate', 51: 'chroot', 52: 'fchmod', 53: 'fchmodat', 54: 'fchownat', 55: 'fchown',
    56: 'openat', 57: 'close', 63: 'read', 64: 'write', 105: 'init_module', 106: 'delete_module', 117: 'ptrace',
    129: 'kill', 142: 'reboot', 143: 'setregid', 144: 'setgid', 145: 'setreuid', 146: 'setuid', 147: 'setresuid',
    149: 'setresgid', 161: 'sethostname', 167: 'prctl', 198: 'socket', 200: 'bind', 201: 'listen', 202: 'accept',
    203: 'connect', 206: 'sendto', 220: 'clone', 221: 'execve', 222: 'mmap', 226: 'mprotect', 242: 'accept4',
    270: 'process_vm_readv', 271: 'process_vm_writev', 273: 'finit_module', 276: 'renameat2',
    279: 'memfd_create', 280: 'bpf', 281: 'execveat',
  }),
);

/** "59" on arch c000003e -> "execve"; undefined for an arch or number not in the tables. */
export function syscallName(arch: string | undefined, nr: string): string | undefined {
  if (arch === 'c000003e') return X86_64.get(nr);
  if (arch === 'c00000b7') return AARCH64.get(nr);
  return undefined;
}
