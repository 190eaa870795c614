/*
 * paced: an open-loop HTTP/1.1 load generator for the fixed-rate latency workloads of benchmarks/run.sh.
 *
 * Why not wrk or h2load: wrk is closed-loop (the next request waits for the last answer), and its
 * delay() hook only paces with millisecond timers, which sends the requests in bursts that queue
 * inside the proxy under test. h2load (nghttp2-client) has --rps, but it sends one fixed body (-d),
 * so calls could not be distinct (a gateway may coalesce or cache identical ones), and its per-client
 * rate timer fires at most every 10 ms and sends the requests due since then together. This program
 * sends request k at start + k/rate, spread evenly, with nanosecond timeouts (epoll_pwait2, 1 ns timer
 * slack), over `connections` keep-alive connections, each carrying one request at a time; a request
 * goes out on any idle connection. It is compiled by run.sh with the C compiler (Debian's gcc).
 *
 * Latency is measured from the moment the request is written to the moment its answer is complete
 * (as wrk and h2load do), so the tool's own wake-up delay is not in it; how late the requests went out
 * relative to their schedule is reported separately (lag p99), as is the number sent more than 1 ms
 * after their slot (late: every connection was busy, or this program was not scheduled in time; their
 * latency excludes that wait, so the count must stay near 0 for the percentiles to mean "at this
 * offered rate").
 *
 * Usage: paced PORT RATE SECONDS CONNECTIONS WORKLOAD    (WORKLOAD: blocknumber | getbalance)
 * Prints: RESULT <achieved req/s> <p50 µs> <p99 µs> <p99.9 µs> <requests> <errors> <not ok> <lag p99 µs> <late>
 * achieved: answers per second, over the schedule or until the last request went out if that was later;
 * errors: connect/read/write failures, non-200 statuses, answers not complete 5 s after the schedule
 * ended; not ok: answers without "result" or with "error".
 * Everything is on 127.0.0.1.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { BUFFER = 65536, MAX_CONNECTIONS = 1024 };

typedef struct {
    int fd;
    int busy;
    uint64_t sent;          /* ns: when the request was written */
    char in[BUFFER];
    size_t inLength;
} Connection;

static Connection *connections;
static int connectionCount;
static int *idle;           /* a FIFO of idle connection indices */
static int idleHead, idleCount;
static int epollFd;
static struct sockaddr_in address;
static int port;
static const char *workload;
static uint64_t *latencies, *lags;
static size_t completed, sentCount, capacity;
static uint64_t errors, notOK, late;
static uint64_t lastSend;

static uint64_t now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void pushIdle(int index) {
    idle[(idleHead + idleCount) % connectionCount] = index;
    idleCount++;
}

static int popIdle(void) {
    int index = idle[idleHead];
    idleHead = (idleHead + 1) % connectionCount;
    idleCount--;
    return index;
}

static int openConnection(Connection *c) {
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (c->fd < 0) return -1;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(c->fd, (struct sockaddr *)&address, sizeof address) != 0) { close(c->fd); c->fd = -1; return -1; }
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
    struct epoll_event event = { .events = EPOLLIN, .data.u32 = (uint32_t)(c - connections) };
    epoll_ctl(epollFd, EPOLL_CTL_ADD, c->fd, &event);
    c->busy = 0;
    c->inLength = 0;
    return 0;
}

/* A broken connection: count the call it carried as an error, connect again, and make it idle. */
static void reopen(Connection *c) {
    if (c->fd >= 0) { epoll_ctl(epollFd, EPOLL_CTL_DEL, c->fd, NULL); close(c->fd); }
    if (c->busy) errors++;
    c->busy = 0;
    if (openConnection(c) == 0) pushIdle((int)(c - connections));
}

/* The body of call k: distinct addresses from the set getbalance.lua cycles through (thread 1 or 2,
 * index 0-4095), so a warmed memory cache answers them; ids stay below 5 digits. */
static int body(uint64_t k, char *out, size_t size) {
    if (strcmp(workload, "getbalance") == 0)
        return snprintf(out, size,
            "{\"jsonrpc\":\"2.0\",\"id\":%u,\"method\":\"eth_getBalance\",\"params\":[\"0x%08x%032x\",\"0x8\"]}",
            (unsigned)(k % 10000), (unsigned)(1 + (k & 1)), (unsigned)((k >> 1) % 4096));
    return snprintf(out, size, "{\"jsonrpc\":\"2.0\",\"id\":%u,\"method\":\"eth_blockNumber\",\"params\":[]}",
                    (unsigned)(k % 10000));
}

static void send_request(Connection *c, uint64_t k, uint64_t scheduled) {
    char payload[512], request[1024];
    int length = body(k, payload, sizeof payload);
    int total = snprintf(request, sizeof request,
        "POST / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
        port, length, payload);
    c->busy = 1;
    c->inLength = 0;
    c->sent = now();
    /* Small requests on an idle keep-alive socket: the kernel takes them whole. */
    if (write(c->fd, request, (size_t)total) != total) { reopen(c); return; }
    if (sentCount < capacity) lags[sentCount] = c->sent > scheduled ? c->sent - scheduled : 0;
    if (c->sent > scheduled + 1000000) late++;
    lastSend = c->sent;
    sentCount++;
}

/* Whether c->in holds one complete answer; sets *status and *bodyStart. Handles Content-Length and
 * chunked answers. */
static int complete(Connection *c, int *status, char **bodyStart) {
    c->in[c->inLength] = 0;
    char *end = strstr(c->in, "\r\n\r\n");
    if (!end) return 0;
    *status = atoi(c->in + 9);
    *bodyStart = end + 4;
    size_t have = c->inLength - (size_t)(end + 4 - c->in);
    for (char *line = strstr(c->in, "\r\n"); line && line < end; line = strstr(line + 2, "\r\n")) {
        if (strncasecmp(line + 2, "Content-Length:", 15) == 0) return have >= (size_t)atol(line + 17);
    }
    /* chunked: complete with the last (empty) chunk */
    return strstr(end + 2, "\r\n0\r\n\r\n") != NULL;
}

static void readable(Connection *c) {
    for (;;) {
        if (c->inLength >= BUFFER - 1) { reopen(c); return; }
        ssize_t n = read(c->fd, c->in + c->inLength, BUFFER - 1 - c->inLength);
        if (n > 0) { c->inLength += (size_t)n; continue; }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        reopen(c);  /* closed or failed */
        return;
    }
    int status;
    char *answer;
    if (!c->busy || !complete(c, &status, &answer)) return;
    uint64_t latency = now() - c->sent;
    if (status != 200) errors++;
    else if (!strstr(answer, "\"result\"") || strstr(answer, "\"error\"")) notOK++;
    if (completed < capacity) latencies[completed] = latency;
    completed++;
    c->busy = 0;
    c->inLength = 0;
    pushIdle((int)(c - connections));
}

static int compare(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static double percentile(uint64_t *values, size_t count, double p) {
    if (count == 0) return 0;
    size_t index = (size_t)(p / 100.0 * (double)count + 0.999999);
    if (index > 0) index--;
    if (index >= count) index = count - 1;
    return (double)values[index] / 1000.0;
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: paced PORT RATE SECONDS CONNECTIONS blocknumber|getbalance\n");
        return 2;
    }
    port = atoi(argv[1]);
    double rate = atof(argv[2]), seconds = atof(argv[3]);
    connectionCount = atoi(argv[4]);
    workload = argv[5];
    if (port <= 0 || rate <= 0 || seconds <= 0 || seconds > 600 || connectionCount <= 0 || connectionCount > MAX_CONNECTIONS
        || (strcmp(workload, "getbalance") != 0 && strcmp(workload, "blocknumber") != 0)) {
        fprintf(stderr, "paced: bad arguments\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    address.sin_family = AF_INET;
    address.sin_port = htons((uint16_t)port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    epollFd = epoll_create1(0);
    connections = calloc((size_t)connectionCount, sizeof *connections);
    idle = calloc((size_t)connectionCount, sizeof *idle);
    capacity = (size_t)(rate * seconds) + 16;
    latencies = calloc(capacity, sizeof *latencies);
    lags = calloc(capacity, sizeof *lags);
    if (!connections || !idle || !latencies || !lags) { fprintf(stderr, "paced: out of memory\n"); return 1; }
    for (int i = 0; i < connectionCount; i++) {
        if (openConnection(&connections[i]) != 0) { perror("paced: connect"); return 1; }
        pushIdle(i);
    }

    const double period = 1e9 / rate;
    const uint64_t start = now(), stop = start + (uint64_t)(seconds * 1e9);
    uint64_t next = 0;  /* the next call to send: due at start + next * period */
    struct epoll_event events[64];
    for (;;) {
        uint64_t t = now();
        uint64_t due = start + (uint64_t)((double)next * period);
        while (due < stop && due <= t && idleCount > 0) {
            send_request(&connections[popIdle()], next, due);
            next++;
            due = start + (uint64_t)((double)next * period);
        }
        if ((due >= stop && idleCount == connectionCount) || t > stop + 5000000000u) break;
        /* Sleep until the next call is due, or (draining, or every connection busy) at most 10 ms. */
        struct timespec timeout = { 0, 10000000 };
        if (due < stop && idleCount > 0) timeout.tv_nsec = due > t ? (long)(due - t) : 0;
        if (timeout.tv_nsec > 10000000) timeout.tv_nsec = 10000000;
        int n = epoll_pwait2(epollFd, events, 64, &timeout, NULL);
        if (n < 0 && errno != EINTR) { perror("paced: epoll"); return 1; }
        for (int i = 0; i < n; i++) readable(&connections[events[i].data.u32]);
    }
    for (int i = 0; i < connectionCount; i++) if (connections[i].busy) errors++;  /* no answer within 5 s */

    size_t measured = completed < capacity ? completed : capacity;
    size_t lagged = sentCount < capacity ? sentCount : capacity;
    qsort(latencies, measured, sizeof *latencies, compare);
    qsort(lags, lagged, sizeof *lags, compare);
    /* Behind schedule, the last request went out late: the rate achieved is lower than offered. */
    double span = lastSend > start ? (double)(lastSend - start) / 1e9 + period / 1e9 : seconds;
    printf("RESULT %.0f %.1f %.1f %.1f %zu %llu %llu %.1f %llu\n", (double)completed / (span > seconds ? span : seconds),
           percentile(latencies, measured, 50), percentile(latencies, measured, 99), percentile(latencies, measured, 99.9),
           completed, (unsigned long long)errors, (unsigned long long)notOK, percentile(lags, lagged, 99),
           (unsigned long long)late);
    return 0;
}
