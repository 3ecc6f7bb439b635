/*
 * nettool: the traffic generator and sink used by `make bench` (bench/traffic.ts).
 *
 * Five modes, each bounded in time (every loop checks a monotonic deadline; no mode can run
 * longer than warmup + seconds + 5 s, or tcp-turns longer than SLICES x (SLICE_MS + 10 s)):
 *
 *   udp-send    DST PORT SECONDS LEN   send LEN-byte UDP datagrams to DST:PORT as fast as
 *                                      sendmmsg() allows, for SECONDS; prints "sent N cpu_ns C"
 *   udp-recv    PORT SECONDS WARMUP    count datagrams received on PORT: the window starts
 *                                      WARMUP s after the first datagram and lasts SECONDS;
 *                                      prints "recv N elapsed_ns E"
 *   tcp-server  PORT SECONDS           accept() and close() until SECONDS pass; prints "accepted N"
 *   tcp-connect DST PORT SECONDS WARMUP
 *                                      connect()+close() in a loop (SO_LINGER 0: the close
 *                                      sends RST, so the client keeps no TIME_WAIT and never
 *                                      runs out of ports); counts connections completed in a
 *                                      SECONDS window after WARMUP; prints
 *                                      "conns N elapsed_ns E failed F cpu_ns C"
 *   tcp-turns   DST PORT SLICE_MS SLICES WARM IN_FIFO OUT_FIFO FIRST
 *                                      the tcp-connect loop in turns with a partner process
 *                                      (another nettool in another network namespace, on the
 *                                      same core): run one SLICE_MS slice, pass the token on
 *                                      OUT_FIFO, wait for it on IN_FIFO (at most 10 s), and so
 *                                      on for SLICES slices; FIRST=1 starts with the token. The
 *                                      two loops then see the same machine, slice by slice
 *                                      (steal time on a shared VM moves rates by 2x within
 *                                      seconds). Prints the totals of the slices after the
 *                                      first WARM, then "slices n:ns,n:ns,..." per slice
 *
 * Why C and not iperf3: iperf3 sends one datagram per syscall and reports only at the end;
 * sendmmsg() batches 64 datagrams per syscall so the sending core spends its time in the
 * network stack (where the firewall runs), and the sink counts delivered packets over an exact
 * window. The harness pins the sender and the sink to different cores with taskset.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <poll.h>
#include <fcntl.h>

#define BATCH 64

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* CPU time this process used (user + system, including the softirq work the kernel ran inline
 * in its context: on a veth that is the whole receive path, firewall included). */
static uint64_t cpu_ns(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000ull +
	       (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000ull;
}

static uint64_t secs_ns(const char *s)
{
	return (uint64_t)(atof(s) * 1e9);
}

static void die(const char *what)
{
	fprintf(stderr, "nettool: cannot %s: %s\n", what, strerror(errno));
	exit(1);
}

static struct sockaddr_in addr_of(const char *ip, const char *port)
{
	struct sockaddr_in a;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)atoi(port));
	if (ip == NULL)
		a.sin_addr.s_addr = htonl(INADDR_ANY);
	else if (inet_pton(AF_INET, ip, &a.sin_addr) != 1) {
		fprintf(stderr, "nettool: cannot parse address %s\n", ip);
		exit(2);
	}
	return a;
}

static int udp_send(const char *dst, const char *port, const char *secs, const char *len_s)
{
	struct sockaddr_in a = addr_of(dst, port);
	size_t len = (size_t)atoi(len_s);
	char buf[2048];
	struct iovec iov[BATCH];
	struct mmsghdr msgs[BATCH];
	uint64_t sent = 0, end;
	int fd, i;

	if (len == 0 || len > sizeof(buf))
		len = 64;
	memset(buf, 0x5a, sizeof(buf));
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0)
		die("create a UDP socket");
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		die("connect the UDP socket");
	memset(msgs, 0, sizeof(msgs));
	for (i = 0; i < BATCH; i++) {
		iov[i].iov_base = buf;
		iov[i].iov_len = len;
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	end = now_ns() + secs_ns(secs);
	while (now_ns() < end) {
		int n = sendmmsg(fd, msgs, BATCH, 0);
		if (n > 0)
			sent += (uint64_t)n;
		/* ECONNREFUSED (an ICMP error came back) and ENOBUFS are transient: keep sending. */
		else if (n < 0 && errno != ECONNREFUSED && errno != ENOBUFS && errno != EAGAIN &&
			 errno != EINTR && errno != EPERM)
			die("send");
	}
	printf("sent %llu cpu_ns %llu\n", (unsigned long long)sent, (unsigned long long)cpu_ns());
	return 0;
}

static int udp_recv(const char *port, const char *secs, const char *warm)
{
	struct sockaddr_in a = addr_of(NULL, port);
	uint64_t window = secs_ns(secs), warmup = secs_ns(warm);
	uint64_t hard_end = now_ns() + window + warmup + 5000000000ull;
	uint64_t first = 0, start = 0, stop = 0, count = 0, t;
	char bufs[BATCH][256];
	struct iovec iov[BATCH];
	struct mmsghdr msgs[BATCH];
	struct timeval tv = { .tv_sec = 0, .tv_usec = 100000 };
	int fd, i, rcvbuf = 8 << 20;

	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0)
		die("create a UDP socket");
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		die("bind the UDP socket");
	printf("ready\n");
	fflush(stdout);
	memset(msgs, 0, sizeof(msgs));
	for (i = 0; i < BATCH; i++) {
		iov[i].iov_base = bufs[i];
		iov[i].iov_len = sizeof(bufs[i]);
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	for (;;) {
		int n = recvmmsg(fd, msgs, BATCH, 0, NULL);
		t = now_ns();
		if (t > hard_end || (first && t >= stop))
			break;
		if (n <= 0)
			continue;
		if (!first) {
			first = t;
			start = first + warmup;
			stop = start + window;
		}
		if (t >= stop)
			break;
		if (t >= start)
			count += (uint64_t)n;
	}
	printf("recv %llu elapsed_ns %llu\n", (unsigned long long)count,
	       (unsigned long long)(first ? window : 0));
	return 0;
}

static int tcp_server(const char *port, const char *secs)
{
	struct sockaddr_in a = addr_of(NULL, port);
	uint64_t end = now_ns() + secs_ns(secs), accepted = 0;
	int one = 1, fd;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		die("create a TCP socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		die("bind the TCP socket");
	if (listen(fd, 4096) < 0)
		die("listen");
	printf("ready\n");
	fflush(stdout);
	while (now_ns() < end) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 100) <= 0)
			continue;
		int c = accept(fd, NULL, NULL);
		if (c >= 0) {
			accepted++;
			close(c);
		}
	}
	printf("accepted %llu\n", (unsigned long long)accepted);
	return 0;
}

static int tcp_connect(const char *dst, const char *port, const char *secs, const char *warm)
{
	struct sockaddr_in a = addr_of(dst, port);
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	struct timeval tmo = { .tv_sec = 1, .tv_usec = 0 };
	uint64_t start = now_ns() + secs_ns(warm), stop = start + secs_ns(secs);
	uint64_t conns = 0, failed = 0, t, cpu0 = 0, cpu1 = 0;
	int in_window = 0;

	for (;;) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd < 0)
			die("create a TCP socket");
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		/* SO_SNDTIMEO bounds a blocking connect(): a dropped SYN cannot stall the loop. */
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tmo, sizeof(tmo));
		int rc = connect(fd, (struct sockaddr *)&a, sizeof(a));
		close(fd);
		t = now_ns();
		if (t >= stop) {
			cpu1 = cpu_ns();
			break;
		}
		if (t >= start) {
			if (!in_window) {
				in_window = 1;
				cpu0 = cpu_ns();
				continue; /* the connection straddling the window start is not counted */
			}
			if (rc == 0)
				conns++;
			else
				failed++;
		}
	}
	printf("conns %llu elapsed_ns %llu failed %llu cpu_ns %llu\n", (unsigned long long)conns,
	       (unsigned long long)(stop - start), (unsigned long long)failed,
	       (unsigned long long)(in_window ? cpu1 - cpu0 : 0));
	return 0;
}

static int tcp_turns(const char *dst, const char *port, const char *slice_ms, const char *slices_s,
		     const char *warm_s, const char *in_path, const char *out_path, const char *first)
{
	struct sockaddr_in a = addr_of(dst, port);
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	struct timeval tmo = { .tv_sec = 1, .tv_usec = 0 };
	uint64_t slice = strtoull(slice_ms, NULL, 10) * 1000000ull;
	long slices = strtol(slices_s, NULL, 10), warm = strtol(warm_s, NULL, 10), i;
	uint64_t conns = 0, failed = 0, elapsed = 0, cpu = 0;
	char tok = 't';
	/* O_RDWR: opening a FIFO this way never blocks, whichever process comes first */
	int in = open(in_path, O_RDWR), out = open(out_path, O_RDWR);
	char *list;
	size_t used = 0;

	if (in < 0 || out < 0 || !slice || slice > 10000000000ull || slices < 1 || slices > 100000 || warm < 0 || warm >= slices)
		die("open the turn FIFOs / bad slice arguments");
	list = calloc((size_t)slices, 48);
	if (!list)
		die("allocate the slice list");
	for (i = 0; i < slices; i++) {
		if (i > 0 || strcmp(first, "1")) {
			struct pollfd p = { .fd = in, .events = POLLIN };
			if (poll(&p, 1, 10000) <= 0 || read(in, &tok, 1) != 1)
				die("wait for the turn token (partner gone?)");
		}
		uint64_t t0 = now_ns(), c0 = cpu_ns(), t, n = 0, f = 0;
		do {
			int fd = socket(AF_INET, SOCK_STREAM, 0);
			if (fd < 0)
				die("create a TCP socket");
			setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
			setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tmo, sizeof(tmo));
			if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
				n++;
			else
				f++;
			close(fd);
			t = now_ns();
		} while (t - t0 < slice);
		uint64_t c1 = cpu_ns();
		if (write(out, &tok, 1) != 1)
			die("pass the turn token");
		if (i >= warm) {
			conns += n;
			failed += f;
			elapsed += t - t0;
			cpu += c1 - c0;
			used += (size_t)snprintf(list + used, 48, "%s%llu:%llu", used ? "," : "", (unsigned long long)n,
						 (unsigned long long)(t - t0));
		}
	}
	printf("conns %llu elapsed_ns %llu failed %llu cpu_ns %llu\nslices %s\n", (unsigned long long)conns,
	       (unsigned long long)elapsed, (unsigned long long)failed, (unsigned long long)cpu, list);
	free(list);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 6 && !strcmp(argv[1], "udp-send"))
		return udp_send(argv[2], argv[3], argv[4], argv[5]);
	if (argc == 5 && !strcmp(argv[1], "udp-recv"))
		return udp_recv(argv[2], argv[3], argv[4]);
	if (argc == 4 && !strcmp(argv[1], "tcp-server"))
		return tcp_server(argv[2], argv[3]);
	if (argc == 6 && !strcmp(argv[1], "tcp-connect"))
		return tcp_connect(argv[2], argv[3], argv[4], argv[5]);
	if (argc == 10 && !strcmp(argv[1], "tcp-turns"))
		return tcp_turns(argv[2], argv[3], argv[4], argv[5], argv[6], argv[7], argv[8], argv[9]);
	fprintf(stderr,
		"usage: nettool udp-send DST PORT SECONDS LEN | udp-recv PORT SECONDS WARMUP |\n"
		"       tcp-server PORT SECONDS | tcp-connect DST PORT SECONDS WARMUP |\n"
		"       tcp-turns DST PORT SLICE_MS SLICES WARM IN_FIFO OUT_FIFO FIRST\n");
	return 2;
}
