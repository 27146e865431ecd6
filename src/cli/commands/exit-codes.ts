/**
 * Exit codes of the commands that ask the running adapter, as RabbitMQ's CLI tools use them
 * (sysexits.h: rabbitmqctl exits 69 when the node it asks is not running).
 */
export const EXIT_OK = 0;
/** EX_USAGE: a bad flag or value. */
export const EXIT_USAGE = 64;
/** EX_UNAVAILABLE: the adapter is not running, or could not be asked. */
export const EXIT_UNAVAILABLE = 69;
/** EX_SOFTWARE: the adapter answered with an error. */
export const EXIT_SOFTWARE = 70;
