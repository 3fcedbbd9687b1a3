/* make macos-check only (see TargetConditionals.h): no libc headers for macOS here. */
#define assert(x) ((void)0)
