/* The pod sandbox ("pause") program of the local environment's node: registry.k8s.io is not
 * reachable from the project's machines, so the sandbox image is built here (static, gcc).
 * It holds the pod's namespaces open: block in pause(), exit on SIGINT/SIGTERM, reap children
 * (it is PID 1 of the pod when the pod shares its PID namespace). */
#include <signal.h>
#include <stddef.h>
#include <sys/wait.h>
#include <unistd.h>

static void on_term(int sig) { (void)sig; _exit(0); }

static void on_child(int sig) {
  (void)sig;
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
}

int main(void) {
  struct sigaction term = {0}, child = {0};
  term.sa_handler = on_term;
  sigaction(SIGINT, &term, NULL);
  sigaction(SIGTERM, &term, NULL);
  child.sa_handler = on_child;
  child.sa_flags = SA_NOCLDSTOP | SA_RESTART;
  sigaction(SIGCHLD, &child, NULL);
  for (;;) pause();
  return 0;
}
