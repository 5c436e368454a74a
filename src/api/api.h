/*
 * api - everything that touches the network: the Coordinator's HTTPS servers (client REST API,
 * mesh API, metrics) on libevent, and the HTTPS clients on libcurl (the CLI's client, the premain's
 * activation, fetching collateral from a PCCS). It speaks the wire formats and turns them into calls
 * of the coordinator and attestation components; it holds no policy of its own.
 *
 * Sections below belong to their parts; each part lives in its own .c file.
 */
#ifndef QUARRY_API_API_H
#define QUARRY_API_API_H

#include "base/base.h"

/* HTTP client (libcurl): collateral from a PCCS or Intel PCS ---------------------------------- */

/* Servers ------------------------------------------------------------------------------------ */

#endif
