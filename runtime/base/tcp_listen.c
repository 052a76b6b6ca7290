#include "tcp_listen.h"

int gale_tcp_listen(uv_tcp_t *tcp, const char *host, int port, int backlog, uv_connection_cb cb, int *bound_port)
{
    struct sockaddr_storage addr;
    int rc = uv_ip4_addr(host, port, (struct sockaddr_in *)&addr);
    if (rc) rc = uv_ip6_addr(host, port, (struct sockaddr_in6 *)&addr);
    if (!rc) rc = uv_tcp_bind(tcp, (struct sockaddr *)&addr, 0);
    if (!rc) rc = uv_listen((uv_stream_t *)tcp, backlog, cb);
    if (rc) return rc;
    struct sockaddr_storage bound;
    int len = sizeof bound;
    if ((rc = uv_tcp_getsockname(tcp, (struct sockaddr *)&bound, &len))) return rc;
    *bound_port = bound.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&bound)->sin6_port)
                                              : ntohs(((struct sockaddr_in *)&bound)->sin_port);
    return 0;
}
