/* The load of the 1,000 quiet sandboxes step (bench/thousand.py, issue #16):
 * one process, one UDP socket inside each sandbox's network namespace
 * (setns in, socket, setns back: the socket stays in its namespace), each
 * socket asking RATE questions a second, the sockets' turns spread evenly
 * over the period, for SECONDS; every answer checked and timed.
 *
 *   thousand_load SERVER SECONDS RATE TIMEOUT_MS LOCAL% WARM% TAG < plan
 *
 * plan (stdin): a line "NETNS NAME A.B.C.D" per sandbox, then "end".
 * It prints "ready" once every socket is made and waits for a line on
 * stdin ("go") before the first question, so the caller can read the
 * server's CPU around the load alone; at the end one line of JSON.
 *
 * Questions: LOCAL% another sandbox's name (the answer must be its
 * address), WARM% one of the upstream's 1,000 names w0000..w0999.zone.test
 * (10.99.x.y), the rest a unique name under cold.zone.test (10.99.9.9;
 * TAG keeps them unique across runs). Latency is from just before the send
 * to the kernel's receive timestamp of the answer (SO_TIMESTAMPNS), so the
 * loader's own wake-up delay is not in it; how late the loader sent against
 * its schedule is reported apart (send lag). No answer within TIMEOUT_MS is
 * lost; an answer after 100 ms is late. C rather than Python: side by side
 * against bench/floor/floor.c (1,000 sockets, 5,000 q/s, 10 s, load average
 * 4-5) a Python epoll loop kept up (26 µs of its own CPU a question, against
 * 23 µs here: mostly the kernel's), but the latency it saw after its own
 * wake-up had a p99 of 4.8 ms, against 0.59 ms from the kernel's receive
 * timestamps here.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SLOTS 65536      /* one per question id: the ids are handed out in order */
#define LATE_NS 100000000LL
#define BUCKET_NS 10000LL /* latency histogram: 10 µs buckets */
#define CLASSES 3
static const char *CLASS_NAMES[CLASSES] = {"local", "warm", "cold"};

struct sandbox { int fd; char name[64]; uint32_t addr; };
struct slot { int used, sock, cls, qlen; uint32_t expect; int64_t sent; unsigned char q[96]; };
struct stats { long sent, answered, lost, late, wrong, rcodes[16]; long *hist; long buckets; double sum_ms, max_ms; };

static struct sandbox *boxes;
static int nboxes;
static struct slot slots[SLOTS];
static struct stats cls_stats[CLASSES];
static long stray, send_errors;
static long late_by_s[3600], lost_by_s[3600]; /* by the second of the run the question was sent in */
static int64_t start_real;
static long *lag_hist, lag_buckets;
static double lag_max_ms;

static int64_t now_ns(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void die(const char *what) {
    perror(what);
    exit(1);
}

/* Reads the plan and makes each sandbox's socket inside its namespace. */
static void make_sockets(const char *server) {
    int home = open("/proc/self/ns/net", O_RDONLY);
    if (home < 0)
        die("/proc/self/ns/net");
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(53)};
    if (inet_pton(AF_INET, server, &to.sin_addr) != 1) {
        fprintf(stderr, "not an IPv4 address: %s\n", server);
        exit(2);
    }
    char line[512], path[400], name[64], addr[32];
    int cap = 0;
    while (fgets(line, sizeof line, stdin) && strncmp(line, "end", 3) != 0) {
        if (sscanf(line, "%399s %63s %31s", path, name, addr) != 3) {
            fprintf(stderr, "bad plan line: %s", line);
            exit(2);
        }
        if (nboxes == cap && !(boxes = realloc(boxes, (cap = cap ? cap * 2 : 256) * sizeof *boxes)))
            die("realloc");
        struct sandbox *box = &boxes[nboxes++];
        snprintf(box->name, sizeof box->name, "%s", name);
        if (inet_pton(AF_INET, addr, &box->addr) != 1) {
            fprintf(stderr, "not an IPv4 address: %s\n", addr);
            exit(2);
        }
        int ns = open(path, O_RDONLY);
        if (ns < 0 || setns(ns, CLONE_NEWNET) != 0)
            die(path);
        close(ns);
        box->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
        int on = 1;
        if (box->fd < 0 || setsockopt(box->fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on) != 0 ||
            connect(box->fd, (struct sockaddr *)&to, sizeof to) != 0)
            die("socket in the sandbox");
        if (setns(home, CLONE_NEWNET) != 0)
            die("setns home");
    }
    close(home);
    if (nboxes < 2) {
        fprintf(stderr, "the plan needs two sandboxes at least\n");
        exit(2);
    }
}

/* Writes `name` as DNS labels into `out`, then QTYPE A, QCLASS IN. */
static int question(const char *name, unsigned char *out) {
    int at = 0;
    for (const char *label = name; *label;) {
        const char *dot = strchr(label, '.');
        int len = dot ? (int)(dot - label) : (int)strlen(label);
        out[at++] = (unsigned char)len;
        memcpy(out + at, label, len);
        at += len;
        label += len + (dot ? 1 : 0);
    }
    memcpy(out + at, "\0\0\1\0\1", 5);
    return at + 5;
}

/* Sends the k-th question, from sandbox k % nboxes. */
static void ask(long k, int64_t sent_real, int local, int warm, const char *tag) {
    struct slot *slot = &slots[k % SLOTS];
    int sock = (int)(k % nboxes), pick = rand() % 100;
    char name[128];
    if (pick < local) {
        int other = (sock + 1 + rand() % (nboxes - 1)) % nboxes; /* another sandbox */
        snprintf(name, sizeof name, "%s", boxes[other].name);
        slot->cls = 0, slot->expect = boxes[other].addr;
    } else if (pick < local + warm) {
        int i = rand() % 1000;
        snprintf(name, sizeof name, "w%04d.zone.test", i);
        slot->cls = 1, slot->expect = htonl(10u << 24 | 99u << 16 | (1u + i / 250) << 8 | (i % 250 + 1));
    } else {
        snprintf(name, sizeof name, "%s-%ld.cold.zone.test", tag, k);
        slot->cls = 2, slot->expect = htonl(10u << 24 | 99u << 16 | 9u << 8 | 9u);
    }
    unsigned char packet[128] = {(k >> 8) & 0xff, k & 0xff, 1, 0, 0, 1};
    slot->qlen = question(name, slot->q);
    memcpy(packet + 12, slot->q, slot->qlen);
    slot->used = 1, slot->sock = sock, slot->sent = sent_real;
    cls_stats[slot->cls].sent++;
    if (send(boxes[sock].fd, packet, 12 + slot->qlen, 0) < 0)
        send_errors++; /* it will count as lost too */
}

/* Whether the answer section of `reply` holds an A record with `expect`. */
static int has_address(const unsigned char *reply, long len, int at, uint32_t expect) {
    int count = reply[6] << 8 | reply[7];
    for (int i = 0; i < count; i++) {
        while (at < len && reply[at] && reply[at] < 0xC0)
            at += reply[at] + 1;
        at += (at < len && reply[at]) ? 2 : 1;
        if (at + 10 > len)
            return 0;
        int type = reply[at] << 8 | reply[at + 1], rdlen = reply[at + 8] << 8 | reply[at + 9];
        at += 10;
        if (type == 1 && rdlen == 4 && at + 4 <= len && memcmp(reply + at, &expect, 4) == 0)
            return 1;
        at += rdlen;
    }
    return 0;
}

static void record(struct stats *s, int64_t latency) {
    double ms = latency / 1e6;
    long bucket = latency / BUCKET_NS;
    s->answered++, s->sum_ms += ms;
    s->hist[bucket < s->buckets ? bucket : s->buckets - 1]++;
    if (ms > s->max_ms)
        s->max_ms = ms;
    if (latency > LATE_NS)
        s->late++;
}

static long second_of(int64_t sent_real) {
    long second = (long)((sent_real - start_real) / 1000000000LL);
    return second < 0 ? 0 : second < 3600 ? second : 3599;
}

/* Reads every answer waiting on sandbox `sock`'s socket. */
static void receive(int sock, int64_t timeout_ns) {
    unsigned char reply[1500], control[128];
    for (;;) {
        struct iovec iov = {.iov_base = reply, .iov_len = sizeof reply};
        struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control};
        long len = recvmsg(boxes[sock].fd, &msg, 0);
        if (len < 0)
            return;
        int64_t at = 0;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_TIMESTAMPNS) {
                struct timespec ts;
                memcpy(&ts, CMSG_DATA(c), sizeof ts);
                at = ts.tv_sec * 1000000000LL + ts.tv_nsec;
            }
        if (!at)
            at = now_ns(CLOCK_REALTIME);
        struct slot *slot = &slots[len >= 12 ? (reply[0] << 8 | reply[1]) : 0];
        if (len < 12 || !slot->used || slot->sock != sock || !(reply[2] & 0x80) || at - slot->sent > timeout_ns) {
            stray++; /* not a question in flight (a duplicate, or after it was counted lost) */
            continue;
        }
        slot->used = 0;
        struct stats *s = &cls_stats[slot->cls];
        int rcode = reply[3] & 0x0F;
        s->rcodes[rcode]++;
        record(s, at - slot->sent);
        if (at - slot->sent > LATE_NS)
            late_by_s[second_of(slot->sent)]++;
        int same = len >= 12 + slot->qlen && strncasecmp((char *)reply + 12, (char *)slot->q, slot->qlen) == 0;
        if (rcode || !same || !has_address(reply, len, 12 + slot->qlen, slot->expect))
            s->wrong++;
    }
}

static double percentile(const struct stats *s, double fraction) {
    long want = (long)(fraction * s->answered), seen = 0;
    for (long b = 0; b < s->buckets; b++)
        if ((seen += s->hist[b]) > want)
            return (b + 1) * BUCKET_NS / 1e6; /* the bucket's upper edge */
    return 0;
}

static void print_stats(const char *label, const struct stats *s, int comma) {
    printf("\"%s\":{\"sent\":%ld,\"answered\":%ld,\"lost\":%ld,\"late\":%ld,\"wrong\":%ld,\"mean_ms\":%.3f,"
           "\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"p999_ms\":%.3f,\"max_ms\":%.3f,\"rcodes\":{",
           label, s->sent, s->answered, s->lost, s->late, s->wrong, s->answered ? s->sum_ms / s->answered : 0,
           percentile(s, .5), percentile(s, .99), percentile(s, .999), s->max_ms);
    for (int r = 0, first = 1; r < 16; r++)
        if (s->rcodes[r])
            printf("%s\"%d\":%ld", first ? "" : ",", r, s->rcodes[r]), first = 0;
    printf("}}%s", comma ? "," : "");
}

/* One question from each sandbox, answers drained and not counted, before
 * any is: the first datagram from a sandbox to an address over the bridge
 * waits for ARP, and 1,000 sandboxes' ARP broadcasts at once, each flooded
 * to the bridge's 1,000 ports, are a start-up storm, not the steady load.
 * Returns how many answered within 3 s. */
static int warm_up(int ep) {
    unsigned char packet[128] = {0xff, 0xff, 1, 0, 0, 1}, reply[1500];
    for (int i = 0; i < nboxes; i++) {
        int len = question(boxes[(i + 1) % nboxes].name, packet + 12);
        send(boxes[i].fd, packet, 12 + len, 0);
    }
    int answered = 0;
    struct epoll_event events[256];
    for (int64_t until = now_ns(CLOCK_MONOTONIC) + 3000000000LL; answered < nboxes && now_ns(CLOCK_MONOTONIC) < until;) {
        int ready = epoll_wait(ep, events, 256, 100);
        for (int i = 0; i < ready; i++)
            while (recv(boxes[events[i].data.u32].fd, reply, sizeof reply, 0) > 0)
                answered++;
    }
    return answered;
}

int main(int argc, char **argv) {
    if (argc != 8) {
        fprintf(stderr, "usage: thousand_load SERVER SECONDS RATE TIMEOUT_MS LOCAL%% WARM%% TAG < plan\n");
        return 2;
    }
    double seconds = atof(argv[2]), rate = atof(argv[3]);
    int64_t timeout_ns = atol(argv[4]) * 1000000LL;
    int local = atoi(argv[5]), warm = atoi(argv[6]);
    struct rlimit files;
    getrlimit(RLIMIT_NOFILE, &files);
    files.rlim_cur = files.rlim_max; /* a socket per sandbox */
    setrlimit(RLIMIT_NOFILE, &files);
    make_sockets(argv[1]);
    if (nboxes * rate * (timeout_ns / 1e9) > SLOTS * 0.9) {
        fprintf(stderr, "too many questions in flight for %d question ids\n", SLOTS);
        return 2;
    }
    int ep = epoll_create1(0);
    for (int i = 0; i < nboxes; i++) {
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, boxes[i].fd, &ev) != 0)
            die("epoll_ctl");
    }
    for (int c = 0; c < CLASSES; c++) {
        cls_stats[c].buckets = timeout_ns / BUCKET_NS + 1;
        cls_stats[c].hist = calloc(cls_stats[c].buckets, sizeof(long));
    }
    lag_buckets = timeout_ns / BUCKET_NS + 1;
    lag_hist = calloc(lag_buckets, sizeof(long));
    int warmed = warm_up(ep);
    srand(2026);
    printf("ready %d %d\n", nboxes, warmed);
    fflush(stdout);
    char line[64];
    if (!fgets(line, sizeof line, stdin))
        return 1;

    struct rusage before_usage, after_usage;
    getrusage(RUSAGE_SELF, &before_usage);
    /* The k-th question goes at start + k * interval, from sandbox k % n:
     * each sandbox every 1/RATE s, the sandboxes' turns evenly apart. */
    start_real = now_ns(CLOCK_REALTIME);
    int64_t start = now_ns(CLOCK_MONOTONIC), interval = (int64_t)(1e9 / rate / nboxes);
    int64_t end = start + (int64_t)(seconds * 1e9);
    long next = 0, oldest = 0;
    struct epoll_event events[256];
    for (;;) {
        int64_t now = now_ns(CLOCK_MONOTONIC);
        int sending = start + next * interval < end;
        for (; sending && start + next * interval <= now; next++, sending = start + next * interval < end) {
            int64_t lag = now - (start + next * interval);
            lag_hist[lag / BUCKET_NS < lag_buckets ? lag / BUCKET_NS : lag_buckets - 1]++;
            if (lag / 1e6 > lag_max_ms)
                lag_max_ms = lag / 1e6;
            ask(next, now_ns(CLOCK_REALTIME), local, warm, argv[7]);
        }
        /* Questions unanswered for TIMEOUT_MS are lost; they leave in order. */
        int64_t real = now_ns(CLOCK_REALTIME);
        for (; oldest < next; oldest++) {
            struct slot *slot = &slots[oldest % SLOTS];
            if (slot->used && real - slot->sent <= timeout_ns)
                break;
            if (slot->used)
                slot->used = 0, cls_stats[slot->cls].lost++, lost_by_s[second_of(slot->sent)]++;
        }
        if (!sending && oldest == next)
            break;
        int64_t wait = sending ? start + next * interval - now : 10000000;
        struct timespec ts = {.tv_sec = wait / 1000000000, .tv_nsec = wait % 1000000000};
        int ready = epoll_pwait2(ep, events, 256, &ts, NULL);
        for (int i = 0; i < ready; i++)
            receive((int)events[i].data.u32, timeout_ns);
    }
    int64_t wall = now_ns(CLOCK_MONOTONIC) - start;
    getrusage(RUSAGE_SELF, &after_usage);
    double cpu = (after_usage.ru_utime.tv_sec - before_usage.ru_utime.tv_sec) +
                 (after_usage.ru_stime.tv_sec - before_usage.ru_stime.tv_sec) +
                 (after_usage.ru_utime.tv_usec - before_usage.ru_utime.tv_usec) / 1e6 +
                 (after_usage.ru_stime.tv_usec - before_usage.ru_stime.tv_usec) / 1e6;
    struct stats all = {.buckets = cls_stats[0].buckets, .hist = calloc(cls_stats[0].buckets, sizeof(long))};
    for (int c = 0; c < CLASSES; c++) {
        struct stats *s = &cls_stats[c];
        all.sent += s->sent, all.answered += s->answered, all.lost += s->lost, all.late += s->late;
        all.wrong += s->wrong, all.sum_ms += s->sum_ms, all.max_ms = s->max_ms > all.max_ms ? s->max_ms : all.max_ms;
        for (int r = 0; r < 16; r++)
            all.rcodes[r] += s->rcodes[r];
        for (long b = 0; b < s->buckets; b++)
            all.hist[b] += s->hist[b];
    }
    struct stats lag = {.answered = next, .buckets = lag_buckets, .hist = lag_hist};
    printf("{\"sockets\":%d,\"wall_s\":%.3f,\"loader_cpu_s\":%.3f,\"stray\":%ld,\"send_errors\":%ld,"
           "\"send_lag_p99_ms\":%.3f,\"send_lag_max_ms\":%.3f,",
           nboxes, wall / 1e9, cpu, stray, send_errors, percentile(&lag, .99), lag_max_ms);
    for (int which = 0; which < 2; which++) {
        long *counts = which ? lost_by_s : late_by_s;
        printf("\"%s_by_second\":[", which ? "lost" : "late");
        for (long i = 0; i < (long)seconds + 1 && i < 3600; i++)
            printf("%s%ld", i ? "," : "", counts[i]);
        printf("],");
    }
    print_stats("all", &all, 1);
    for (int c = 0; c < CLASSES; c++)
        print_stats(CLASS_NAMES[c], &cls_stats[c], c + 1 < CLASSES);
    printf("}\n");
    return 0;
}
