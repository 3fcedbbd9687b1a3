/* For `make macos-check` only: the one Apple SDK header ring's C includes, so its build
 * script can compile on Linux for a type check of the whole crate for macOS. A native
 * build on a Mac uses the real SDK and never sees this file. */
#ifndef TARGET_CONDITIONALS_STUB_H
#define TARGET_CONDITIONALS_STUB_H
#define TARGET_OS_MAC 1
#define TARGET_OS_OSX 1
#define TARGET_OS_IPHONE 0
#define TARGET_OS_IOS 0
#define TARGET_OS_TV 0
#define TARGET_OS_WATCH 0
#define TARGET_OS_SIMULATOR 0
#define TARGET_OS_EMBEDDED 0
#endif
