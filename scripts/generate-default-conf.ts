#!/usr/bin/env bun
/**
 * Rewrites packaging/rabbitmq_mqtt.conf from the config schema table:
 *   bun scripts/generate-default-conf.ts
 * Run it after adding or changing a key in src/config/schema.ts; src/install/default-conf.test.ts
 * fails until the committed file matches the schema again.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { SCHEMA } from "../src/config/index.ts";
import { renderDefaultConf } from "../src/install/default-conf.ts";

const target = join(import.meta.dir, "..", "packaging", "rabbitmq_mqtt.conf");
writeFileSync(target, renderDefaultConf(SCHEMA));
console.log(`wrote ${target}`);
