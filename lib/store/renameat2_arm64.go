package store

// sysRenameat2 is renameat2(2) on linux/arm64.
const sysRenameat2 = 276

// sysFstatat is fstatat(2) on linux/arm64.
const sysFstatat = 79
