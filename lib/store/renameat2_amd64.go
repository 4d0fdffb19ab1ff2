package store

// sysRenameat2 is renameat2(2) on linux/amd64.
const sysRenameat2 = 316

// sysFstatat is newfstatat(2) on linux/amd64.
const sysFstatat = 262
