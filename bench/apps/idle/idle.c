/* An idle service for bench/idle.sh: it sleeps an hour at a time, forever
 * (one poll_oneoff on the monotonic clock per hour). */
#include <unistd.h>

int main(void) {
    for (;;) {
        sleep(3600);
    }
}
