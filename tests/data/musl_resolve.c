/* The musl interop test's client (tests/netns_musl.rs): resolves argv[1]
 * through getaddrinfo, as an application linked against musl does, and
 * prints one address per line; on failure prints gai_strerror and exits 1.
 * Built static with musl-gcc, so it uses musl's stub resolver whatever the
 * system's libc is. musl up to 1.2.3 never retries over TCP when TC is set
 * (issue #14). */
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

int main(int argc, char **argv) {
	struct addrinfo hints, *list, *ai;
	char text[INET6_ADDRSTRLEN];
	int err;

	if (argc != 2) {
		fprintf(stderr, "usage: %s NAME\n", argv[0]);
		return 2;
	}
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	err = getaddrinfo(argv[1], NULL, &hints, &list);
	if (err) {
		printf("error: %s\n", gai_strerror(err));
		return 1;
	}
	for (ai = list; ai; ai = ai->ai_next) {
		const void *addr = ai->ai_family == AF_INET
			? (const void *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr
			: (const void *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr;
		if (inet_ntop(ai->ai_family, addr, text, sizeof text))
			printf("%s\n", text);
	}
	freeaddrinfo(list);
	return 0;
}
