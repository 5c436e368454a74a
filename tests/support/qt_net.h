/*
 * Raw TCP clients for tests of the servers' connection handling: idle, trickling or half-done
 * connections an attacker would hold, on loopback.
 */
#ifndef QUARRY_TEST_QT_NET_H
#define QUARRY_TEST_QT_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A blocking TCP connection to 127.0.0.1:port; -1 when connect() fails (errno kept). */
int qt_tcp_connect(uint16_t port);
/* Whether the peer closed (end of file, reset) within `seconds`; data it sends is read and dropped.
 */
bool qt_tcp_closed_within(int fd, double seconds);
/* Sends `prefix`, then one byte of `fill` per `interval` seconds, until the peer closes or
 * `limit` seconds passed. Returns the seconds until the peer closed, or -1 when it did not. */
double qt_tcp_trickle(int fd, const char *prefix, size_t prefix_size, char fill, double interval,
                      double limit);
/* Monotonic seconds. */
double qt_now(void);

#endif
