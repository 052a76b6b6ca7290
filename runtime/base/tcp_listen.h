/*
 * tcp_listen.h: a TCP listener on a libuv loop at host:port (IPv4 or IPv6 text; port 0: any), and the port it got:
 * one piece of code for every port gale listens on (the control servers, the HTTP endpoint).
 */
#ifndef GALE_TCP_LISTEN_H
#define GALE_TCP_LISTEN_H

#include <uv.h>

/* `tcp` must be initialised on its loop. 0 with *bound_port, or a libuv error code (the handle is still to close). */
int gale_tcp_listen(uv_tcp_t *tcp, const char *host, int port, int backlog, uv_connection_cb cb, int *bound_port);

#endif
