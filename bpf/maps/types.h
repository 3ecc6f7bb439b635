/* Fixed-width types for the map layouts: from vmlinux.h in BPF builds, from the UAPI headers in
 * userspace builds (test/unit/layout.test.ts compiles every map header with gcc). */
#ifndef DIFW_MAPS_TYPES_H
#define DIFW_MAPS_TYPES_H
#if defined(__BPF__) || defined(__bpf__)
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#define DIFW_BPF 1
#else
#include <linux/types.h>
#endif
#endif
