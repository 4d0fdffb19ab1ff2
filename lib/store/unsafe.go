package store

import "unsafe"

// unsafePointer converts for the raw renameat2 syscall, which the syscall
// package does not wrap.
func unsafePointer(p *byte) unsafe.Pointer { return unsafe.Pointer(p) }
