/* SPDX-License-Identifier: GPL-2.0 */
/* All maps of the pod policy datapath (tc_pod.bpf.c), each pinned by name under the node's pin root. */
#ifndef DIFW_MAPS_POD_H
#define DIFW_MAPS_POD_H
#include "maps/pod_config.h"
#include "maps/pod_endpoints.h"
#include "maps/pod_ipcache.h"
#include "maps/pod_policy.h"
#include "maps/pod_ct.h"
#include "maps/pod_events.h"
#include "maps/pod_ev_budget.h"
#endif
