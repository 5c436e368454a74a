#include "qt_net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

double qt_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int qt_tcp_connect(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* Reads what is there; true once the peer closed. */
static bool drain_closed(int fd, int wait_ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    while (poll(&p, 1, wait_ms) > 0) {
        char b[4096];
        ssize_t n = recv(fd, b, sizeof(b), MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
            return true;
        wait_ms = 0;
    }
    return false;
}

bool qt_tcp_closed_within(int fd, double seconds)
{
    double end = qt_now() + seconds, left = seconds;
    do {
        if (drain_closed(fd, left > 0 ? (int)(left * 1000) + 1 : 0))
            return true;
        left = end - qt_now();
    } while (left > 0);
    return false;
}

double qt_tcp_trickle(int fd, const char *prefix, size_t prefix_size, char fill, double interval,
                      double limit)
{
    double start = qt_now();
    if (prefix_size > 0 && send(fd, prefix, prefix_size, MSG_NOSIGNAL) != (ssize_t)prefix_size)
        return qt_now() - start;
    while (qt_now() - start < limit) {
        if (qt_tcp_closed_within(fd, interval))
            return qt_now() - start;
        if (send(fd, &fill, 1, MSG_NOSIGNAL) != 1)
            return qt_now() - start;
    }
    return -1;
}
