/* The floor for CPU per query at low rates (issue #16): one blocking
 * recvmsg and one sendmsg per query, the least a UDP DNS server can do
 * per wake-up. It answers every query with its own question, QR and RA
 * set, NXDOMAIN, no records: no parsing, no table.
 *
 *   gcc -O2 -o floor floor.c && ./floor 127.0.0.1 5399
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: floor ADDRESS PORT\n");
        return 2;
    }
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
    inet_pton(AF_INET, argv[1], &addr.sin_addr);
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
        perror("bind");
        return 1;
    }
    unsigned char buf[4096];
    struct sockaddr_in peer;
    struct iovec iov = {.iov_base = buf};
    struct msghdr msg = {.msg_name = &peer, .msg_iov = &iov, .msg_iovlen = 1};
    for (;;) {
        iov.iov_len = sizeof buf;
        msg.msg_namelen = sizeof peer;
        ssize_t n = recvmsg(fd, &msg, 0);
        if (n < 12)
            continue;
        buf[2] |= 0x80;                /* QR */
        buf[3] = (buf[3] & 0x70) | 0x83; /* RA, NXDOMAIN */
        memset(buf + 6, 0, 6);         /* no records */
        iov.iov_len = n;
        sendmsg(fd, &msg, 0);
    }
}
