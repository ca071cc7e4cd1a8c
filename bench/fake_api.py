"""The fake Bot API as a process of its own, so that it does not share a core with the engine.

Prints ``PORT <n>`` once it listens; serves until killed.
"""

from __future__ import annotations

import argparse
import asyncio

from tests.fakebot import FakeBotApi, FloodLimits, UserRef


async def serve(args: argparse.Namespace) -> None:
    fake = FakeBotApi(latency=args.latency, limits=FloodLimits() if args.limits else None)
    for chat_id in range(args.first_private, args.first_private + args.private):
        fake.private_chat(UserRef(chat_id))
    for i in range(args.groups):
        fake.group(args.first_group - i, kind="supergroup")
    if args.blocked:
        fake.block(fake.chats[args.blocked])
    if args.migrate:
        old, new = (int(part) for part in args.migrate.split(":"))
        fake.migrate(fake.chats[old], new)
    # Webhook mode: what the bot registers is a public https URL; its posts go here instead.
    fake.webhook_forward_to = args.webhook_forward_to or None
    await fake.start()
    print(f"PORT {fake.port}", flush=True)
    await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--limits", action="store_true")
    parser.add_argument("--private", type=int, default=0)
    parser.add_argument("--first-private", type=int, default=1)
    parser.add_argument("--groups", type=int, default=0)
    parser.add_argument("--first-group", type=int, default=-1)
    parser.add_argument("--blocked", type=int, default=0)
    parser.add_argument("--migrate", default="", help="OLD:NEW")
    parser.add_argument("--webhook-forward-to", default="", help="http://127.0.0.1:PORT")
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
