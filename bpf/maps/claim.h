/* SPDX-License-Identifier: GPL-2.0 */
/*
 * All maps of the identity claim datapath, one header per layout (claim_*.h). Every map is
 * pinned by name, so the sockops object (sender) and the policy TC objects (receiver, through
 * bpf/lib/claim.h) loaded with the same pin root share one instance.
 */
#ifndef DIFW_MAPS_CLAIM_H
#define DIFW_MAPS_CLAIM_H

#include "maps/claim_cfg.h"
#include "maps/claim_local.h"
#include "maps/claim_peers.h"
#include "maps/claim_keys.h"
#include "maps/claim_hosted.h"
#include "maps/claim_replay.h"
#include "maps/claim_stats.h"

#endif
