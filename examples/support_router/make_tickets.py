"""tickets.jsonl: the 64 hand-written tickets plus 160 generated from phrase templates (seeded).

`python examples/support_router/make_tickets.py --write` regenerates the file; without `--write` the script
checks that the checked-in file is what it generates. Each generated ticket fills one of a category's ten
phrasings with an item, a time and a restaurant, between a neutral opener and closer, so tickets of one
category share a theme but differ in wording; no phrasing is shared between categories. Because tickets
made from one phrasing land in every split, the test split is easier for a few-shot learner than fresh
tickets would be: the figures measure the optimizer on this data, not a model's accuracy in the wild.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

HAND_WRITTEN = Path(__file__).with_name("tickets_hand_written.jsonl")
OUT = Path(__file__).with_name("tickets.jsonl")
SEED = 7
PER_CATEGORY = 40

ITEMS = ["fries", "burger", "salad", "soda", "dessert", "dumplings", "curry", "pizza", "noodles", "sauce", "wrap"]
TIMES = ["20 minutes", "an hour", "45 minutes", "two hours", "half an hour", "90 minutes"]
PLACES = ["Luigi's", "the taco place", "Golden Wok", "Burger Barn", "Sushi Go", "the bakery"]
OPENERS = ["", "", "Hi, ", "Hello. ", "Order 4471: ", "Quick question. ", "Not happy. ", "Sorry to bother you, "]
CLOSERS = ["", "", " Thanks.", " Please help.", " This is the second time.", " Order number 88213.", " Regards, Sam."]

TEMPLATES: dict[str, list[str]] = {
    "eta": [
        "My order from {place} was due {time} ago and is still not here.",
        "How much longer for my {item}? The app estimate keeps moving.",
        "Any update on the delivery time? I have been waiting {time}.",
        "The tracker has not changed in {time}, when will the food arrive?",
        "Why is my {item} taking so long? It said it would arrive soon.",
        "Is my order from {place} ever coming? Running very late.",
        "Can you tell me when my delivery arrives, it is {time} overdue.",
        "Still waiting on my {item}, the schedule said it would be here by now.",
        "The estimated arrival jumped by {time}, what is going on?",
        "Order placed {time} ago and no sign of it, where is it?",
    ],
    "missing_item": [
        "My {item} was not in the bag from {place}.",
        "The order arrived without the {item} I paid for.",
        "Half my order is missing, no {item} at all.",
        "You forgot the {item}, only the drinks came.",
        "I ordered two {item} and received one.",
        "The receipt lists {item} but it was not included.",
        "Got my food from {place} but the {item} was left out.",
        "There was no {item} in the delivery, can I get a refund for it?",
        "Items missing from my order: the {item} never made it into the box.",
        "The {item} I ordered is not here, everything else is.",
    ],
    "driver": [
        "The courier was rude and shouted at me at the door.",
        "My driver left the {item} on the street instead of handing it over.",
        "The delivery guy was smoking while holding my food.",
        "The courier refused to walk up to my apartment.",
        "Your driver ate some of my {item}, the seal was broken.",
        "The dasher parked on my lawn and was very unprofessional.",
        "The courier threw the bag at my door and ran.",
        "My driver asked me for a bigger tip in cash, that is not okay.",
        "The delivery person ignored my instructions and yelled at my neighbour.",
        "The courier from {place} was aggressive on the phone.",
    ],
    "other": [
        "How do I change the email address on my account?",
        "I was charged twice for my {place} order, please fix the payment.",
        "The app crashes every time I open the menu.",
        "Can I use a promo code on an order I already placed?",
        "Please delete my account and my data.",
        "How do I add a new credit card to my profile?",
        "I cannot log in, the password reset email never comes.",
        "Do you deliver to my new address across town?",
        "How do I leave a review for {place}?",
        "Can I schedule a group order for next Friday?",
    ],
}


def generate() -> list[dict[str, str]]:
    """`PER_CATEGORY` distinct tickets per category, its phrasings used in turn, with neutral openers and closers."""
    rng = random.Random(SEED)
    rows: list[dict[str, str]] = []
    for category, templates in TEMPLATES.items():
        seen: set[str] = set()
        turn = 0
        while len(seen) < PER_CATEGORY:
            body = templates[turn % len(templates)].format(
                item=rng.choice(ITEMS), time=rng.choice(TIMES), place=rng.choice(PLACES)
            )
            text = f"{rng.choice(OPENERS)}{body}{rng.choice(CLOSERS)}"
            if text not in seen:
                seen.add(text)
                turn += 1
                rows.append({"text": text, "category": category})
    rng.shuffle(rows)
    return rows


def main() -> None:
    hand = [json.loads(line) for line in HAND_WRITTEN.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = hand + generate()
    text = "".join(json.dumps(row) + "\n" for row in rows)
    if "--write" in sys.argv[1:]:
        OUT.write_text(text, encoding="utf-8")
        print(f"{len(rows)} tickets written to {OUT.name}")
    elif OUT.read_text(encoding="utf-8") == text:
        print(f"{OUT.name} is up to date: {len(rows)} tickets")
    else:
        raise SystemExit(f"{OUT.name} differs from what this script generates: run it with --write")


if __name__ == "__main__":
    main()
