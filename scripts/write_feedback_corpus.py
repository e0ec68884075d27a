#!/usr/bin/env python3
"""Rebuild infogap's feedback training corpus: server/infogap_server/training/data/feedback_train.jsonl.

What customers of an online shop write after a delivery or a service contact, labelled with an overall sentiment
(negative / neutral / positive) and the complaint aspects the text raises (multi-label, possibly none). Every
fragment and every whole text below was written for this project. The script mixes a few hundred whole hand-written
texts with texts composed from hand-written parts (openings, complaint sentences per aspect, praise, neutral notes,
closings), fills in details (products, order references, amounts, dates) and injects typos into some of them.

Deterministic (fixed seed), standard library only, runs in about a second:

    python scripts/write_feedback_corpus.py [--out PATH]

The hand-written test set (feedback_test.jsonl) is NOT produced here; it was written separately, text by text.
"""

from __future__ import annotations

import argparse
import json
import random
import re
from collections import Counter
from pathlib import Path

SEED = 7731
TOTAL = 2600
SHARES = {"negative": 0.55, "neutral": 0.15, "positive": 0.30}
ASPECTS = (
    "delivery_delay", "damaged_item", "wrong_item", "missing_item", "refund_delay", "returns_process",
    "billing", "staff_attitude", "waiting_time", "product_quality", "website_app", "communication",
)
# Aspects whose texts say the goods reached the customer; templates tagged [pending] (nothing arrived / order
# cancelled) are not combined with them.
ARRIVAL = {"damaged_item", "wrong_item", "missing_item", "product_quality", "returns_process"}
INCOMPATIBLE = {frozenset(("delivery_delay", "missing_item")), frozenset(("damaged_item", "missing_item"))}
RELATED = {
    "delivery_delay": ["communication", "waiting_time", "staff_attitude", "communication"],
    "damaged_item": ["returns_process", "refund_delay", "delivery_delay", "staff_attitude", "waiting_time"],
    "wrong_item": ["returns_process", "refund_delay", "communication", "waiting_time"],
    "missing_item": ["staff_attitude", "communication", "refund_delay", "waiting_time"],
    "refund_delay": ["waiting_time", "communication", "returns_process", "billing"],
    "returns_process": ["refund_delay", "website_app", "communication", "staff_attitude"],
    "billing": ["refund_delay", "website_app", "communication", "waiting_time"],
    "staff_attitude": ["waiting_time", "communication", "delivery_delay"],
    "waiting_time": ["communication", "staff_attitude", "refund_delay"],
    "product_quality": ["refund_delay", "returns_process", "staff_attitude"],
    "website_app": ["billing", "communication", "waiting_time"],
    "communication": ["delivery_delay", "waiting_time", "refund_delay"],
}

OUT = Path(__file__).resolve().parents[1] / "server" / "infogap_server" / "training" / "data" / "feedback_train.jsonl"

# --------------------------------------------------------------------------------------------------------------
# Products: (name, category, plural, indefinite form)
# --------------------------------------------------------------------------------------------------------------
ITEMS = [
    ("kettle", "electronics", False, "a kettle"),
    ("toaster", "electronics", False, "a toaster"),
    ("blender", "electronics", False, "a blender"),
    ("headphones", "electronics", True, "a pair of headphones"),
    ("phone charger", "electronics", False, "a phone charger"),
    ("electric toothbrush", "electronics", False, "an electric toothbrush"),
    ("bluetooth speaker", "electronics", False, "a bluetooth speaker"),
    ("hair dryer", "electronics", False, "a hair dryer"),
    ("smart watch", "electronics", False, "a smart watch"),
    ("desk fan", "electronics", False, "a desk fan"),
    ("tablet", "electronics", False, "a tablet"),
    ("glass teapot", "kitchen", False, "a glass teapot"),
    ("set of wine glasses", "kitchen", False, "a set of wine glasses"),
    ("coffee mugs", "kitchen", True, "a set of coffee mugs"),
    ("dinner plates", "kitchen", True, "a set of dinner plates"),
    ("casserole dish", "kitchen", False, "a casserole dish"),
    ("mirror", "decor", False, "a mirror"),
    ("ceramic vase", "decor", False, "a ceramic vase"),
    ("table lamp", "decor", False, "a table lamp"),
    ("picture frame", "decor", False, "a picture frame"),
    ("winter coat", "clothing", False, "a winter coat"),
    ("jeans", "clothing", True, "a pair of jeans"),
    ("dress", "clothing", False, "a dress"),
    ("rain jacket", "clothing", False, "a rain jacket"),
    ("jumper", "clothing", False, "a jumper"),
    ("pyjamas", "clothing", True, "a pair of pyjamas"),
    ("school uniform", "clothing", False, "a school uniform"),
    ("hoodie", "clothing", False, "a hoodie"),
    ("shoes", "footwear", True, "a pair of shoes"),
    ("running shoes", "footwear", True, "a pair of running shoes"),
    ("trainers", "footwear", True, "a pair of trainers"),
    ("boots", "footwear", True, "a pair of boots"),
    ("school shoes", "footwear", True, "a pair of school shoes"),
    ("slippers", "footwear", True, "a pair of slippers"),
    ("sandals", "footwear", True, "a pair of sandals"),
    ("sofa", "furniture", False, "a sofa"),
    ("bookshelf", "furniture", False, "a bookshelf"),
    ("desk chair", "furniture", False, "a desk chair"),
    ("bed frame", "furniture", False, "a bed frame"),
    ("coffee table", "furniture", False, "a coffee table"),
    ("wardrobe", "furniture", False, "a wardrobe"),
    ("bar stools", "furniture", True, "a set of bar stools"),
    ("chest of drawers", "furniture", False, "a chest of drawers"),
    ("shampoo", "liquid", False, "a bottle of shampoo"),
    ("perfume", "liquid", False, "a bottle of perfume"),
    ("hand cream", "liquid", False, "a tube of hand cream"),
    ("bath oil", "liquid", False, "a bottle of bath oil"),
    ("laundry liquid", "liquid", False, "a bottle of laundry liquid"),
    ("face serum", "liquid", False, "a face serum"),
    ("vitamins", "consumable", True, "a tub of vitamins"),
    ("coffee beans", "consumable", True, "a bag of coffee beans"),
    ("protein powder", "consumable", False, "a tub of protein powder"),
    ("dog food", "consumable", False, "a bag of dog food"),
    ("tea bags", "consumable", True, "a box of tea bags"),
    ("cat treats", "consumable", True, "a pack of cat treats"),
    ("phone case", "other", False, "a phone case"),
    ("backpack", "other", False, "a backpack"),
    ("curtains", "other", True, "a pair of curtains"),
    ("duvet", "other", False, "a duvet"),
    ("kids' scooter", "other", False, "a kids' scooter"),
    ("board game", "other", False, "a board game"),
    ("suitcase", "other", False, "a suitcase"),
    ("umbrella", "other", False, "an umbrella"),
    ("garden chairs", "other", True, "a set of garden chairs"),
]
AGENTS = ["Priya", "Tom", "Kelly", "Marcus", "Ana", "Dev", "Sophie", "Liam", "Grace", "Omar", "Beth", "Jonah",
          "Zara", "Ben", "Aisha", "Rory"]
COLOURS = ["black", "white", "navy", "grey", "sage green", "cream", "red", "pink", "mustard", "charcoal", "blue",
           "oatmeal", "forest green", "lilac"]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
NUMBER_WORDS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 8: "eight", 9: "nine", 10: "ten",
                11: "eleven", 12: "twelve"}


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def make_date(rng: random.Random) -> str:
    day, month = rng.randint(1, 28), rng.choice(MONTHS)
    style = rng.randrange(5)
    if style == 0:
        return f"{day} {month}"
    if style == 1:
        return f"{month} {ordinal(day)}"
    if style in (2, 3):
        return f"the {ordinal(day)}"
    return f"{day}/{MONTHS.index(month) + 1}"


def make_order(rng: random.Random) -> str:
    style = rng.randrange(5)
    letters = "ABCDEFGHJKLMNPRSTWXZ"
    if style == 0:
        return f"#{rng.choice(letters)}{rng.randint(1000, 9999)}"
    if style == 1:
        return f"#{rng.randint(10000, 99999)}"
    if style == 2:
        return f"{rng.choice(letters)}-{rng.randint(10000, 99999)}"
    if style == 3:
        return f"{rng.randint(0, 99):02d}{rng.randint(10000, 99999)}"
    return f"{rng.choice(letters)}{rng.choice(letters)}{rng.randint(10000, 99999)}"


def make_money(rng: random.Random, cur: str, low: int, high: int) -> tuple[float, str]:
    whole = rng.randint(low, high)
    cents = rng.choice([0, 0, 99, 99, 49, 50, 95])
    value = whole + cents / 100
    text = f"{cur}{whole}" if cents == 0 else f"{cur}{whole}.{cents:02d}"
    return value, text


def number(rng: random.Random, values: list[int], words: float = 0.3) -> str:
    n = rng.choice(values)
    return NUMBER_WORDS[n] if n in NUMBER_WORDS and rng.random() < words else str(n)


def make_ctx(rng: random.Random) -> dict:
    name, cat, plural, a_form = rng.choice(ITEMS)
    same = [i for i in ITEMS if i[0] != name and i[1] == cat]
    other = rng.choice(same if same and rng.random() < 0.75 else [i for i in ITEMS if i[0] != name])
    cur = rng.choices(["£", "$", "€"], [6, 3, 1])[0]
    high_v, high = make_money(rng, cur, 20, 420)
    low_v, low = make_money(rng, cur, 4, max(5, int(high_v) - 3))
    day_i = rng.randrange(7)
    colour, colour2 = rng.sample(COLOURS, 2)
    sizes = ["4", "5", "6", "7", "8", "9", "10", "11", "12"] if cat == "footwear" else ["6", "8", "10", "12", "14", "16", "18"]
    size, size2 = rng.sample(sizes, 2)
    pack = rng.choice([6, 8, 10, 12, 20, 24, 30, 60, 90])
    total_items = rng.randint(3, 6)
    return {
        "cat": cat, "plural": plural,
        "item": name, "the_item": f"the {name}", "The_item": f"The {name}", "a_item": a_form,
        "other": other[0], "a_other": other[3],
        "it": "they" if plural else "it", "It": "They" if plural else "It", "them": "them" if plural else "it",
        "was": "were" if plural else "was", "is": "are" if plural else "is", "Is": "Are" if plural else "Is", "has": "have" if plural else "has",
        "doesnt": "don't" if plural else "doesn't", "its": "their" if plural else "its", "s": "" if plural else "s",
        "order": make_order(rng), "amount": high, "amount2": low,
        "days": number(rng, [4, 5, 6, 8, 9, 10, 11, 12, 13, 15, 17, 20]),
        "weeks": number(rng, [2, 3, 4, 5, 6], 0.6),
        "date": make_date(rng), "weekday": WEEKDAYS[day_i], "weekday2": WEEKDAYS[(day_i + rng.randint(2, 4)) % 7],
        "mins": str(rng.choice([35, 40, 45, 50, 55, 65, 70, 80, 90])),
        "hours": number(rng, [2, 3, 4], 0.7),
        "name": rng.choice(AGENTS), "colour": colour, "colour2": colour2, "size": size, "size2": size2,
        "n": str(pack), "n2": str(rng.choice([p for p in (2, 3, 4, 5, 6, 8, 10, 12, 20, 30) if p < pack])),
        "k": str(rng.randint(1, total_items - 1)), "m": str(total_items), "house": str(rng.randint(2, 88)),
    }


# --------------------------------------------------------------------------------------------------------------
# Template pools. One template per line. "[cat1,cat2] text" limits a line to those product categories ("pending"
# marks a line that says nothing arrived / the order is gone); "text ## aspect1,aspect2" adds aspects the line
# raises on top of the pool's own.
# --------------------------------------------------------------------------------------------------------------
def pool(block: str) -> list[tuple[str, frozenset | None, tuple]]:
    out = []
    for raw in block.strip().splitlines():
        raw = raw.strip()
        if not raw:
            continue
        cats = None
        extra: tuple = ()
        m = re.match(r"\[([a-z_,]+)\]\s*(.*)", raw)
        if m:
            cats = frozenset(m.group(1).split(","))
            raw = m.group(2)
        if " ## " in raw:
            raw, ex = raw.split(" ## ")
            extra = tuple(a.strip() for a in ex.split(","))
            assert all(a in ASPECTS for a in extra), raw
        out.append((raw, cats, extra))
    return out


def plain(block: str) -> list[str]:
    return [line.strip() for line in block.strip().splitlines() if line.strip()]


# ----------------------------------------------------------------------------------------------- complaint sentences
DELIVERY = pool("""
[pending] My order {order} was due on {date} and it still hasn't turned up.
[pending] It's been {days} days past the estimated delivery date and still nothing.
[pending] The parcel was supposed to come on {weekday}. It's now {weekday2} and there's no sign of it.
[arrived] I paid extra for next-day delivery and ended up waiting {days} days.
[pending] Tracking has said 'out for delivery' since {weekday}.
[pending] I'm still waiting on {the_item} I ordered {weeks} weeks ago.
The delivery was pushed back three times.
[arrived] {The_item} arrived {days} days late, so {it} missed the birthday {it} {was} bought for.
[pending] Your courier seems to have lost my parcel completely.
[pending] Ordered on {date} and it's still not here.
Apparently standard delivery means three weeks now.
[pending] I took a day off work to wait in for the delivery and it never came.
[pending] My parcel has been sitting at the depot for over a week.
[arrived] Express shipping, my foot. It took {days} days.
[arrived] {The_item} turned up almost two weeks after the date on the confirmation.
[pending] The tracking has been stuck on 'in transit' for {days} days.
[pending] Every time I check, the delivery date has moved back another day.
[arrived] It was meant to be a two to three day delivery and it took {days}.
[pending] The delivery slot came and went and nobody showed up.
[pending] My order is now {days} days late.
[arrived] I needed {them} for the weekend and {it} arrived the following Thursday.
Slowest delivery I have ever experienced.
[pending] The parcel seems to have vanished somewhere between your warehouse and my door.
[arrived] It took nearly a month from ordering to {the_item} actually arriving.
[pending] Order {order} has been 'preparing for dispatch' for ten days.
[arrived] Dispatch alone took a week, then it spent another week in transit.
[arrived] The estimated delivery date came and went twice before anything showed up.
[arrived] I ordered in plenty of time for Christmas and it arrived on the 29th.
[pending] We've been waiting {weeks} weeks for {the_item} when the website said five to seven working days.
[pending] The parcel still hasn't left the sorting centre.
[pending] I'm starting to think my order is never coming.
The delivery missed its date by a full week.
[pending] Second week of waiting and {the_item} {is} nowhere to be seen.
[arrived] It finally turned up today, eleven days late.
[pending] The tracking hasn't moved since it left the warehouse on {date}.
[arrived] I paid for named-day delivery on {weekday} and it came {days} days later.
[pending] No parcel, no driver, nothing, and it was due {days} days ago.
[pending] My {item} should have been here last week.
[arrived] Three weeks for a parcel that was travelling less than a hundred miles.
[pending] The courier has 'attempted delivery' twice while I was sitting at home, and now it's gone back to the depot.
[arrived] {The_item} got here eventually, about ten days after you said {it} would.
[arrived] By the time {the_item} arrived I'd already bought another one in a shop.
""")

DAMAGE_STATE = {
    "fragile": plain("""
cracked
smashed
in pieces
chipped
broken in two
shattered
badly chipped around the edge
"""),
    "electronics": plain("""
dented
scratched all over
cracked
broken
bent out of shape
"""),
    "clothing": plain("""
torn
ripped
stained
soaking wet
filthy
"""),
    "footwear": plain("""
scuffed
squashed flat
scratched
stained
"""),
    "furniture": plain("""
scratched
dented
split
broken
ripped
"""),
    "liquid": plain("""
leaking
split
burst open
half empty
"""),
    "consumable": plain("""
crushed
split open
torn open
spilled everywhere
"""),
    "other": plain("""
damaged
broken
torn
crushed
bent
"""),
}
DAMAGE_WITH = {
    "fragile": plain("""
with a crack running right down the side
with a chunk missing from the rim
with broken glass all through the box
with a big chip out of the base
"""),
    "electronics": plain("""
with a cracked casing
with a smashed screen
with something rattling around inside
with the plug pins bent
with a big dent in the side
"""),
    "clothing": plain("""
with a rip along the seam
with a hole in the front
with a big oil stain on it
with a tear right across the back
"""),
    "footwear": plain("""
with a deep scratch across one toe
with one heel snapped off
with the box crushed and both shoes bent out of shape
with marks all over the leather
"""),
    "furniture": plain("""
with a snapped leg
with a big gouge across the top
with one of the panels split
with a tear in the fabric
with the corner smashed in
"""),
    "liquid": plain("""
with the lid burst open
with the bottle split down the side
leaking all over everything else in the box
"""),
    "consumable": plain("""
with the container split and the contents all over the box
with the seal broken
with the bag ripped and half of it spilled
"""),
    "other": plain("""
with a big tear in it
with a broken handle
with a crack down one side
"""),
}
DAMAGE_ARRIVE = plain("""
{The_item} arrived {dmg}.
Opened the parcel to find {the_item} {dmg}.
My {item} turned up {dmg}.
{The_item} came {dmg}, clearly dropped somewhere along the way.
Got {the_item} today and {it} arrived {dmg}.
I can't even use {the_item}, {it} arrived {dmg}.
Unboxed {the_item} this morning. {It} came {dmg}.
Paid {amount} for {the_item} and {it} came {dmg}.
""")
DAMAGE_STATE_T = plain("""
The box looked fine from the outside, but {the_item} inside {was} {dmgs}.
The outer box was crushed and {the_item} {was} {dmgs}.
The packaging was torn to shreds and {the_item} {was} {dmgs}.
Looks like someone played football with the parcel, because {the_item} {was} {dmgs}.
When I opened the box {the_item} {was} {dmgs}.
Sadly {the_item} {was} {dmgs} on arrival.
{The_item} {was} {dmgs} before I'd even taken {them} out of the box.
This is the second time you've sent me {a_item} that arrived {dmgs}.
""")
DAMAGE_GENERIC = pool("""
Everything in the parcel was damaged.
The box was soaking wet and the contents were ruined.
There was barely any packaging, so no surprise it broke on the way.
The parcel looked like someone had stood on it, and so did what was inside.
Arrived damaged. Again.
Half the order was broken when it arrived.
The courier handed me a box that was literally falling apart, and the thing inside was broken.
There was a tyre mark on the box and the contents were in bits.
""")

WRONG = pool("""
[clothing,footwear,furniture,decor,kitchen,electronics,other] I ordered {the_item} in {colour} and got {them} in {colour2}.
[clothing,footwear] Ordered a size {size} and received a size {size2}.
This isn't what I ordered. I got {a_other} instead of {a_item}.
You sent me someone else's order entirely.
The box had {a_other} in it. I ordered {a_item}.
[consumable] I ordered a pack of {n} and received a pack of {n2}.
[clothing,footwear] Wrong colour, wrong size, wrong everything.
The label on the box says {item}, but inside there's {a_other}.
[electronics] I received the wrong model.
[clothing,footwear,furniture,decor,kitchen,electronics,other] I chose {colour} at checkout and the one that turned up is {colour2}.
[clothing,footwear] Second time I've been sent the wrong size.
[footwear] You sent me a left shoe in a {size} and a right in a {size2}.
[clothing] I ordered a large and you sent a small.
Wrong item delivered.
It's not even the same brand as the one I paid for.
What arrived is the older version of {the_item}, not the one in the listing.
[furniture] I ordered the double and got the single.
The parcel had my name on it but the contents were clearly meant for someone else.
I ordered {a_item} and opened the box to find {a_other}.
[clothing,footwear,furniture,decor,kitchen,electronics,other] Asked for {colour}, got {colour2}. How hard can it be?
The item in the box doesn't match the order confirmation at all.
[clothing,footwear] I've received the children's size instead of the adult one.
[consumable] You've sent me the wrong flavour.
[consumable] I ordered the unflavoured one and got chocolate.
[clothing,footwear,furniture,decor,kitchen,electronics,other] Everything in the parcel was right except {the_item}, which {is} the wrong colour.
[electronics] I ordered the UK plug version and got an EU plug.
The product code on {the_item} doesn't match the one on my order.
I got {a_other} in a box labelled {item}.
[liquid] I ordered the unscented one and got the lavender one, which I'm allergic to.
[furniture] The {item} is oak, and I ordered white.
""")

MISSING = pool("""
The box arrived but {the_item} wasn't in it.
Only {k} of the {m} items I ordered were in the parcel.
[pending] Tracking says delivered, but nothing ever came.
[pending] The order is marked as delivered and I have nothing.
[furniture] The screws and fixings were missing, so I can't put {the_item} together.
[electronics] {The_item} came without the charger.
Half my order is missing.
The parcel was empty apart from some brown paper.
The instructions and half the parts weren't in the box.
The invoice lists {the_item}, but {it} {was}n't in the parcel.
I got the parcel but the second item is nowhere to be found.
The free gift that was advertised wasn't included.
[pending] The delivery photo shows a door that isn't mine and there's no parcel here.
[furniture] Only two of the three boxes for {the_item} turned up.
The box had been resealed with tape and {the_item} {was} gone.
The packing slip says three items and there were two in the box.
[clothing] The belt that's meant to come with {the_item} wasn't there.
[footwear] Only one shoe in the box. One.
[pending] It says 'delivered, left in safe place' and there is no parcel anywhere.
[electronics] {The_item} arrived without the cable.
[furniture] The bag of bolts is missing.
The set was meant to be four and there were three in the box.
[consumable] The box was meant to contain {n} and there were only {n2}.
Part of my order never made it into the box.
[kitchen] Two of the six were missing from the box.
""")

REFUND = pool("""
[arrived] I returned {the_item} on {date} and still haven't been refunded.
Still waiting on the {amount} you owe me.
Your email said the refund would take five days. It's been {weeks} weeks.
The refund finally came through, but it was {amount2} short.
[arrived] You refused my refund even though the item was faulty.
I got a refund of {amount2} instead of the {amount} I paid.
Where is my money?
You took my money in seconds but the refund takes weeks, funny that.
It's been over a month and I haven't seen a penny back.
My refund has been 'pending' for {days} days.
[arrived] You confirmed you'd received my return on {date} and my bank still shows nothing.
You gave me store credit when I clearly asked for my money back.
[pending] The refund for my cancelled order still hasn't appeared.
[pending] I cancelled within an hour of ordering and I'm still waiting for the refund.
I've been told the refund is 'processing' for three weeks now.
You didn't refund the delivery charge even though the mistake was yours.
[arrived] The return was accepted but the refund never came.
{amount} is a lot of money to leave sitting in your account instead of mine.
I was told I'd have the refund within 48 hours. That was {days} days ago.
Still no refund for order {order}.
The refund went back to a card that's been cancelled, and now nobody will reissue it.
Your refund policy says 14 days. We're on day 31.
Only part of my refund has come through.
They refunded one item and forgot the other.
[arrived] Refund declined because I 'used the item'. I took it out of the box to see it was broken. ## damaged_item
[arrived] You've had {the_item} back since {date}. I'd like my {amount} back too.
My refund was rejected with no reason given.
""")

RETURNS = pool("""
I tried to return {the_item} but the returns page won't accept my order number. ## website_app
The returns label you emailed prints out blank.
I booked a collection for the return and nobody turned up.
You want to charge me a {amount2} restocking fee for sending back something faulty.
Why do I have to pay return postage when you sent the wrong thing? ## wrong_item
Your returns rules are impossible to understand.
I dropped the return at the post office {weeks} weeks ago and it still shows as not received.
How am I supposed to print a label when I don't own a printer?
[furniture] The return window is only 14 days, which is nowhere near enough for furniture.
I've waited in for a returns collection three days running.
The courier refused to take my return because it wasn't in the original box.
[clothing,footwear] You rejected my return saying the tags were cut off. They weren't.
Returning {the_item} is apparently a six-step process with two phone calls.
There's no returns label in the box and no way to get one online.
The returns form asks for a code I was never given.
I have to drive forty minutes to a drop-off point to send back something you got wrong.
The returns address on the slip is a warehouse that has closed.
Nobody will tell me whether I can return {the_item} or not. ## communication
I was told returns are free, then charged {amount2} for the label. ## billing
Your returns policy changed after I'd bought {them}.
The return collection was booked for {weekday}, then cancelled by the courier.
Why does returning {a_item} need a photo, a form and a phone call?
The return was collected on {date} and you're saying you never got it.
The returns portal keeps saying my item isn't eligible for return when it clearly is.
[furniture] Sending back {the_item} means taking {them} apart and finding a box the size of a car.
I'm still stuck with {the_item} because nobody has come to collect {them}.
The return label expired before the courier even turned up.
[liquid,consumable] You won't take {the_item} back because the seal is broken, but I only opened {them} to find out {it} {was} wrong.
""")

BILLING = pool("""
I've been charged twice for order {order}.
I was charged {amount} when the checkout said {amount2}.
There's a {amount2} fee on my statement that nobody mentioned.
My card was declined three times, but the money left my account anyway.
The invoice has the wrong name and the wrong address on it.
You charged me for delivery on an order that qualified for free delivery.
The discount code showed at checkout, but I was charged full price.
I'm still being billed for a subscription I cancelled on {date}.
Two payments of {amount2} came out for one order.
The price went up between adding {the_item} to the basket and paying.
My invoice lists things I never ordered.
I was charged in dollars on a UK order, so now I've paid a conversion fee as well.
You took payment the day I ordered, then charged me again on dispatch.
The sale price was {amount2}, but {amount} came off my card.
Your invoice doesn't show VAT, which I need for my business.
There's a 'service charge' on my bill that I never agreed to.
I chose to pay in three instalments and you took the whole amount at once.
My payment went through twice and the bank says it's your job to fix it.
I was billed for express delivery that I didn't choose.
The gift card balance wasn't taken off the total, so I paid the full {amount}.
[pending] I've been charged {amount} for an order I cancelled straight away.
I was charged for three when I ordered two.
The receipt total and my bank statement don't match.
Payment failed at checkout, I tried again, and now I've been charged for both. ## website_app
My card keeps getting declined on your site, and the bank says the card is fine.
You've charged my old card, which I removed from my account months ago.
""")

STAFF = pool("""
The agent I spoke to was rude and hung up on me.
[arrived] Your driver threw the parcel over my gate and swore at me when I said something.
I was spoken to like an idiot.
{name} on the phone couldn't have cared less.
The person on live chat kept telling me to calm down.
The courier was unbelievably rude.
Your staff member actually laughed when I explained the problem.
Condescending from start to finish.
Nobody I spoke to showed the slightest interest in helping.
The manager wouldn't give his name and said it wasn't his problem.
[arrived] The delivery driver left it in the rain and just shrugged when I came out.
[arrived] I was basically accused of lying about the fault.
The woman on the phone sighed every time I spoke.
Your agent kept interrupting me and wouldn't let me finish a sentence.
The driver was shouting down the phone at me because he couldn't find the house.
I was told 'that's not my department' and passed from person to person.
The staff at the collection desk were chatting to each other and ignored me.
Absolutely no manners from the person on the phone.
{name} was sarcastic and dismissive the whole way through.
The chat agent ended the conversation while I was still typing.
[arrived] The courier refused to carry the box up one flight of stairs and was rude about it.
I've never been treated with such contempt by a shop.
Your customer service person told me it was my fault for ordering online.
The driver was on his phone the whole time and didn't even look at me.
The agent kept reading from a script and ignored what I actually said.
[arrived] I got a lecture about 'proper use' when I called to report that {the_item} had stopped working. ## product_quality
[arrived] The courier called me 'love' in the most patronising way and then dumped the box in the hallway.
""")

WAITING = pool("""
I was on hold for {mins} minutes before anyone picked up.
I waited {hours} hours on live chat.
It took {days} days to get a reply to my email.
I'm still waiting for the callback I was offered on {weekday}.
I sat at queue position forty-something for an hour.
The phone line just rings and rings.
The chat said 'typical reply time: 2 minutes'. It was forty.
I spent my entire lunch break on hold.
Three days for a reply to a simple question.
The queue at the collection point was out the door with one person serving.
Your hold music is burned into my brain at this point.
I've been waiting a week for someone to answer my email.
Every time I call I'm told there's a 45 minute wait.
The callback I requested never came, so I rang again and waited another hour.
I was put on hold, then cut off, then back in the queue from the start.
It took four days to get an automated reply.
I've spent longer waiting for your team than I spent choosing {the_item}.
[pending] Chat was 'busy' all day so I couldn't speak to anyone about my order.
{mins} minutes on hold just to be told to send an email instead.
I've been waiting for a reply since {date}.
Your social media team answers faster than your helpline, which says a lot.
I'm still waiting for a response to my complaint from {weeks} weeks ago.
Nobody answers the phone before 11, and by then the queue is an hour long.
I've been 'in the queue' for so long my phone battery died.
""")

QUALITY_PRED = {
    "kitchen": plain("""
chipped the first time {it} went in the dishwasher
stained after a couple of uses
cracked after a few weeks of normal use
{is} much thinner and cheaper-looking than in the photos
{has} a pattern that's already wearing off
"""),
    "decor": plain("""
{is} much smaller and flimsier than {it} look{s} online
{has} paint flaking off already
fell apart within a month
{is} plastic, not glass as the listing says
look{s} nothing like the photos
"""),
    "electronics": plain("""
stopped working after a week
{has} a battery that barely lasts an hour
make{s} a horrible buzzing noise
stopped charging after two weeks
{is} so flimsy that a button has already fallen off
get{s} worryingly hot after ten minutes
keep{s} turning itself off
{doesnt} do half of what the description says
died a week after the return window closed
"""),
    "clothing": plain("""
fell apart after two washes
{is} made of paper-thin material
shrank a whole size after one wash
bobbled after one wear
{has} stitching that's already coming undone
ran in the wash and turned my whites pink
{is} nothing like the colour in the photos
{is} see-through, which the listing definitely didn't mention
"""),
    "footwear": plain("""
fell apart within a fortnight
squeak with every step
let water in the first time it rained
have soles that came away after two weeks
are already splitting across the toe
are nothing like the real leather in the description
rubbed my heels raw and the lining is peeling
"""),
    "furniture": plain("""
{has} wobbled from day one
{is} clearly chipboard, not the solid oak in the listing
started coming apart at the joints within weeks
{has} a finish that peels off if you so much as touch it
sagged in the middle within a month
{is} far lower quality than the price suggests
"""),
    "liquid": plain("""
smell{s} nothing like the description
brought me out in a rash
{is} watered down, I'm sure of it
{has} a pump that stopped working on day two
{is} a fraction of the quality I expected for the price
"""),
    "consumable": plain("""
taste{s} stale
{was} past {its} best-before date when {it} arrived
smell{s} off
{is} not the same quality as the last lot I bought
{has} clearly had a recipe change, and not for the better
"""),
    "other": plain("""
broke the second time I used {them}
feel{s} cheap and flimsy
{has} a zip that broke within a week
look{s} nothing like the pictures
{is} shocking quality for the price
fell apart within a month
"""),
}
QUALITY_T = plain("""
{The_item} {pq}.
Really disappointed with {the_item}. {It} {pq}.
Cheap rubbish. {The_item} {pq}.
For {amount}, I expected better: {the_item} {pq}.
I've had {the_item} for less than a month and {it} {pq}.
Not happy with the quality at all, {the_item} {pq}.
The reviews said great quality, but my {item} {pq}.
Honestly, {the_item} {pq}. Not worth the money.
""")
QUALITY_GENERIC = pool("""
It's nothing like the description.
The quality is shocking for the price.
It looks nothing like the photos online.
Feels like something out of a Christmas cracker.
It broke within a week of normal use.
Cheap plastic rubbish.
The product simply isn't fit for purpose.
I've had better quality from the pound shop.
""")

WEBSITE = pool("""
Your app crashes every time I open the basket.
The checkout kept throwing an error, so I tried four times.
I couldn't log in and the password reset email never arrived.
The tracking page just says 'error 500'.
The app logged me out halfway through paying.
The discount code box doesn't do anything when you press apply.
The site keeps saying my postcode is invalid.
The size filter shows things that aren't available in my size.
The page freezes whenever I try to update my address.
My order history page is completely blank.
I had to use a laptop because the app wouldn't load my orders.
The tracking link in your email goes to a page that doesn't exist.
Your website is a maze.
The 'contact us' button just takes you back to the FAQ.
The app keeps emptying my basket.
I can't find anywhere on the site to change my delivery address.
Your website said {the_item} {was} in stock and then cancelled my order an hour later.
The payment page just spins forever.
Search on your site is useless: type in {item} and you get garden furniture.
Every time I try to add {the_item} to the basket the page reloads.
[pending] The tracking map shows my parcel in the middle of the sea.
The live chat window won't open on my phone.
The site won't accept my card even though it works everywhere else. ## billing
The app update wiped my saved addresses.
The 'track order' button has been greyed out for days.
Your website keeps telling me my session has expired after about thirty seconds.
""")

COMMUNICATION = pool("""
Nobody has updated me once.
I've had three different answers from three different people.
You said someone would call me back and nobody did. ## waiting_time
No emails, no texts, nothing.
Your emails say one thing and the phone team says another.
This is the third time I've had to explain the whole thing from scratch.
[pending] The website says in stock, the email says out of stock, and chat says it's on its way.
Nobody explains what is actually going on.
My emails are being completely ignored.
I was told it'd be sorted by Friday. It's now Tuesday and nothing has happened.
Every reply I get is a copy-and-paste answer that doesn't address my question.
[pending] My order was cancelled and nobody bothered to tell me.
[pending] I only found out my order was delayed when I rang you. ## delivery_delay
[pending] I got a 'your order is on its way' email for an order you'd already cancelled.
I've sent four emails and not had a single reply.
No one tells you anything until you chase them.
The automated emails keep saying my refund is on its way, but the agent says it hasn't even been started. ## refund_delay
I was told a manager would ring me. Still waiting. ## waiting_time
The information on your website contradicts your own terms and conditions.
Nobody told me the delivery would need a signature.
I keep getting 'we'll look into it' and then silence.
The agent said she'd email me a summary of the call. Nothing arrived.
You changed my delivery date without telling me.
[arrived] There was no warning at all that the order would be split into three parcels.
[pending] I've had no confirmation of anything since I placed the order.
One person says refund, one says replacement, and the third says neither.
Why do I have to chase you for every single update?
I was promised an update within 24 hours. That was last week.
""")

COMPLAINTS = {
    "delivery_delay": DELIVERY, "wrong_item": WRONG, "missing_item": MISSING, "refund_delay": REFUND,
    "returns_process": RETURNS, "billing": BILLING, "staff_attitude": STAFF, "waiting_time": WAITING,
    "website_app": WEBSITE, "communication": COMMUNICATION,
}

SHORT_NEG = {
    "delivery_delay": plain("""
late again
still not arrived
parcel STILL not here
where is my order??
delivery took forever
painfully slow shipping
two weeks late
still waiting for my parcel
missed the delivery date
order never arrived
where's my parcel
arrived a week late
slow delivery
still no sign of it
parcel lost in transit
10 days and counting
late late late
"""),
    "damaged_item": plain("""
arrived broken
smashed in transit
came damaged!!
broken on arrival
box crushed, item ruined
DAMAGED
arrived in pieces
cracked when it arrived
leaking all over the box
arrived scratched
{item} arrived damaged
"""),
    "wrong_item": plain("""
wrong item sent
wrong size AGAIN
not what I ordered
sent the wrong colour
received someone else's order
wrong product
got the wrong one
this isn't my order
wrong {item}
"""),
    "missing_item": plain("""
item missing from parcel
half my order missing
box arrived empty
says delivered, nothing here
parts missing
missing pieces
where's the rest of my order
nothing in the box!!
"""),
    "refund_delay": plain("""
still no refund
where's my refund??
refund still pending
waiting on my money
refund never came
refund was short
still waiting for my money back
REFUND ME
"""),
    "returns_process": plain("""
returns process is a nightmare
return label doesn't work
collection never came for my return
restocking fee?? seriously
can't return it
impossible to send back
"""),
    "billing": plain("""
charged twice!!
double charged
wrong price charged
hidden fees
overcharged
why was I charged again?
billed for nothing
"""),
    "staff_attitude": plain("""
rude staff
very rude driver
unhelpful agent
staff couldn't care less
RUDE
condescending service
the courier was rude
"""),
    "waiting_time": plain("""
on hold forever
2 hours on hold
no reply for days
still waiting for a callback
queue was huge
slow replies
"""),
    "product_quality": plain("""
cheap rubbish
poor quality
broke after a week
not as described
fell apart
stopped working already
flimsy and cheap
total junk
"""),
    "website_app": plain("""
app keeps crashing
website is useless
checkout broken
can't log in
tracking page down
your app is so buggy
site won't load
"""),
    "communication": plain("""
no updates at all
nobody replies to emails
zero communication
contradictory info every time
nobody tells me anything
emails ignored
"""),
}

SARCASM = {
    "delivery_delay": pool("""
Love how 'next-day delivery' now means next fortnight.
Day nine of refreshing the tracking page. Living the dream.
Brilliant, my parcel is apparently touring the country without me.
Great stuff, I'll just keep waiting then. Maybe it'll turn up for my next birthday.
Thanks for the 'fast shipping'. My {item} should be here by the time my kids leave school.
"""),
    "damaged_item": pool("""
Thanks for the jigsaw puzzle. Shame I ordered {a_item}.
Nice of the courier to test how strong the box was. It wasn't.
Love the new 'pre-broken' range. Very on trend.
"""),
    "wrong_item": pool("""
Ordered {a_item}, got {a_other}. Surprise of the year, thanks.
Love a lucky dip. Didn't know I'd signed up for one though.
"""),
    "missing_item": pool("""
Thanks for the beautifully packed empty box.
Apparently my parcel was delivered to a house I can't see. Magic.
"""),
    "refund_delay": pool("""
Funny how my money left my account instantly but takes a month to find its way back.
Still waiting on that money you owe me. No rush, it's only been five weeks.
"""),
    "returns_process": pool("""
Returning something to you is harder than doing my tax return. Well done.
Loved spending my Saturday trying to find a working printer for your return label.
"""),
    "billing": pool("""
Charging me twice is one way to hit your targets, I suppose.
Love a surprise fee. Said nobody ever.
"""),
    "staff_attitude": pool("""
Special thanks to the agent who made me feel like an idiot for asking a question. Top class.
Your driver's people skills are truly something else.
"""),
    "waiting_time": pool("""
I've now memorised every second of your hold music. Thanks for the new hobby.
Customer service that replies within the week, how modern.
"""),
    "product_quality": pool("""
Lasted a whole nine days. Truly built to last.
Premium quality, they said. Premium for about a week.
"""),
    "website_app": pool("""
Tried to check out five times. Your website clearly doesn't want my money.
Your app is great if you enjoy error messages.
"""),
    "communication": pool("""
Great communication. Oh wait, there wasn't any.
I love a good mystery, and your update emails are a masterpiece of saying nothing.
"""),
}

# Minor complaints inside texts that are positive overall (lowercase clauses, no final stop).
MILD = {
    "delivery_delay": plain("""
it arrived a couple of days later than the estimate
delivery was a day late
it took a bit longer to arrive than I expected
the parcel was a few days behind schedule
shipping was slower than advertised
"""),
    "damaged_item": plain("""
the box was a bit bashed and {the_item} {has} a small scratch
one corner arrived slightly dented
there was a small chip on the base when it arrived
"""),
    "wrong_item": plain("""
one of the colours wasn't quite the one I picked
they sent the next size up, though it happens to fit
"""),
    "missing_item": plain("""
the little cleaning brush wasn't in the box
one of the free samples was missing
"""),
    "refund_delay": plain("""
the refund took a little longer than I expected
the refund took about ten days to show up
"""),
    "returns_process": plain("""
the returns form was a bit fiddly
I had to pay for the return postage myself
"""),
    "billing": plain("""
I was charged a small delivery fee I hadn't noticed
the invoice had my old address on it
"""),
    "staff_attitude": plain("""
the driver was a bit short with me
the first person I spoke to wasn't very helpful
"""),
    "waiting_time": plain("""
I had to wait on hold for a while
it took a day or two to get a reply
"""),
    "product_quality": plain("""
{the_item} {is} a little thinner than I expected
the colour is slightly different from the photo
the stitching on one side is a bit uneven
"""),
    "website_app": plain("""
the app was a bit slow at checkout
the tracking page was a bit confusing
"""),
    "communication": plain("""
I'd have liked a heads-up that it was coming in two parcels
the dispatch email came through a bit late
"""),
}
MIXED_POS = plain("""
Only niggle is that {m}.
The one downside was that {m}, but I'd still recommend you.
Shame {m}, but otherwise spot on.
Apart from the fact that {m}, it was all great.
{M}, but honestly that's my only complaint.
Small thing: {m}. Otherwise perfect.
""")

# Problems the customer reports but that were put right; positive overall, the problem keeps its aspect.
RESOLVED = {
    "delivery_delay": pool("""
The parcel went missing at first, but {name} sorted out a replacement that arrived the very next day. Great recovery.
My order was running late, so I rang and {name} upgraded the delivery for free. It came the next morning. Thank you!
Delivery was a few days late but you kept me posted and threw in a discount code. Can't complain.
"""),
    "damaged_item": pool("""
{The_item} arrived damaged, but I sent a photo and had a replacement two days later. Really impressed.
A bit of breakage in transit, but customer service refunded me straight away without any hassle. Thanks {name}!
"""),
    "wrong_item": pool("""
I was sent the wrong size at first, but the exchange was quick and easy and the right ones arrived in two days. Happy now.
Got the wrong colour, but {name} arranged a swap straight away and let me keep the first one. Very kind.
"""),
    "missing_item": pool("""
One item was missing from my order but a quick chat with {name} and it was sent out the same day. Lovely service.
The fixings were missing from the box, but a replacement pack came the next morning. Sorted.
"""),
    "refund_delay": pool("""
My refund was slow at first, but after one phone call {name} pushed it through the same afternoon. Thank you.
"""),
    "returns_process": pool("""
The first return label didn't work, but the second one did and the refund came quickly. All good in the end.
"""),
    "billing": pool("""
I was charged twice by mistake, but {name} spotted it straight away and put the extra payment back the same day. Great service.
"""),
    "staff_attitude": pool("""
The first agent was quite rude, but the second one, {name}, was brilliant and sorted it all out. Thank you {name}.
"""),
    "waiting_time": pool("""
The wait on the phone was long, but once I got through {name} fixed everything in five minutes. Worth it in the end.
"""),
    "product_quality": pool("""
{The_item} stopped working after a few weeks but you replaced {them} under warranty with no questions asked. Very happy.
"""),
    "website_app": pool("""
Checkout kept failing on the app, but {name} on the phone put the order through for me and even applied the discount. Thanks!
"""),
    "communication": pool("""
I was a bit confused by the emails at first, but {name} explained everything clearly on the phone. Much appreciated.
"""),
}

# Factual notes (no emotion) that still report a problem.
NEUTRAL_ASPECT = {
    "delivery_delay": pool("""
The parcel arrived {days} days after the estimated date.
Order {order} arrived on {weekday}, two days after the date on the confirmation email.
Delivery came a day later than quoted.
"""),
    "damaged_item": pool("""
{The_item} arrived with a small dent on the side. Photo attached.
Reporting a damaged item on order {order}. The box was crushed in transit.
"""),
    "wrong_item": pool("""
[clothing,footwear,furniture,decor,kitchen,electronics,other] Received the {colour2} one instead of {colour}. I'd like to exchange it please.
[clothing,footwear] The parcel contained a size {size2}; my order was for a {size}.
Order {order} contained a different product from the one on the invoice. How do I swap it?
"""),
    "missing_item": pool("""
Order {order}: one item was not in the parcel. Could you send it separately please?
Tracking shows delivered but I haven't received the parcel. Could you check with the courier?
"""),
    "refund_delay": pool("""
The refund for order {order} has not appeared in my account yet. Returned on {date}.
The refund received was {amount2}, but I paid {amount}. Please can you check?
"""),
    "returns_process": pool("""
The return label link in the email didn't open, so I used the one in the box instead.
"""),
    "billing": pool("""
Please send a corrected invoice for order {order}, the company name is spelled wrong.
I can see two payments of {amount2} for order {order}. One seems to be a duplicate.
"""),
    "waiting_time": pool("""
The phone wait was about {mins} minutes.
The reply took a few days but the answer was clear.
"""),
    "product_quality": pool("""
{The_item} {is} smaller than I expected from the photos.
The colour is a bit different to the website.
"""),
    "website_app": pool("""
The tracking link in the email didn't work, but I found the order in my account.
The app showed an error at checkout but the order went through.
"""),
    "communication": pool("""
The confirmation email said {weekday} and the app says {weekday2}. Which one is correct?
"""),
}

# Second sentences that stay on the same complaint (used in longer texts).
FOLLOW = {
    "delivery_delay": pool("""
[pending] I've checked the tracking every day and it hasn't moved.
I needed {them} for the weekend, so that plan is ruined.
It's not as if I live in the middle of nowhere.
[pending] The courier's own website just says 'delayed'.
Other shops manage next-day delivery to my address without any trouble.
"""),
    "damaged_item": pool("""
I've attached photos of the box and the damage.
There was no padding in the box at all, just {the_item} rattling around.
I've kept all the packaging in case you need to see it.
It's completely unusable as it is.
Either nobody checked it before it went out or it was thrown around on the way.
"""),
    "wrong_item": pool("""
I double-checked my order confirmation and I definitely chose the right one.
Now I've got the hassle of swapping {them}.
What I was sent is no use to me at all.
I've attached a photo of the label next to my confirmation email.
"""),
    "missing_item": pool("""
[pending] I've checked with the neighbours and looked round the back. Nothing.
I went through all the packaging twice.
There's no note to say the rest is coming separately.
The weight on the label doesn't even match what was in the box.
"""),
    "refund_delay": pool("""
That's {amount} I could really do with right now.
My bank says nothing is pending from you.
[arrived] I have the proof of postage right here.
I shouldn't have to keep asking for my own money.
"""),
    "returns_process": pool("""
I've wasted a whole afternoon on this.
Every other shop I use makes this simple.
I've followed the instructions on your website to the letter.
At this rate I'll be outside the return window through no fault of my own.
"""),
    "billing": pool("""
I've got a screenshot of the checkout page and the bank statement.
That's money I had set aside for other bills.
My bank says it's a genuine charge from you, so it's yours to fix.
I checked the order confirmation and the numbers simply don't add up.
"""),
    "staff_attitude": pool("""
I was polite the whole way through, for the record.
I wasn't even angry until that point.
I'd like someone to have a word with them.
I've never been spoken to like that by a shop.
"""),
    "waiting_time": pool("""
Some of us have jobs to go to.
I'd have given up if I didn't need this sorted.
I only had one quick question.
That's a big chunk of my day gone just trying to reach you.
"""),
    "product_quality": pool("""
I've barely used {them}.
I followed the care instructions to the letter.
My old one lasted ten years.
At that price I expected far better.
The photos online are very flattering, let's put it that way.
"""),
    "website_app": pool("""
I've tried on my phone and my laptop, same problem.
I cleared my cache, updated the app, the lot.
I nearly gave up and bought it somewhere else.
I'm not a technophobe, it's your site.
"""),
    "communication": pool("""
I shouldn't have to chase every few days just to find out what's happening.
I'd be a lot less annoyed if someone just told me the truth.
All I want is a straight answer.
Every reply seems to come from someone who hasn't read the previous one.
"""),
}
IMPACT = plain("""
So much for getting it sorted before the weekend.
I'd told everyone how good your shop was, too.
This was supposed to be a treat for myself.
I've spent more time on this than I can afford.
It's been stressful from start to finish.
I have a newborn at home and really didn't need this.
I'm a pensioner and this has caused me a lot of worry.
I run a small business and can't keep losing time like this.
""")
# Order in which problems are usually told.
STORY_ORDER = ["delivery_delay", "missing_item", "damaged_item", "wrong_item", "product_quality", "website_app",
               "billing", "returns_process", "refund_delay", "waiting_time", "staff_attitude", "communication"]

# ---------------------------------------------------------------------------------------------------- framing parts
NEG_OPEN = plain("""
Hello.
Hi there.
To whom it may concern,
Right, where do I start.
Really not happy.
Not impressed at all.
I'm writing to complain about my recent order.
Sorry, but I have to leave a bad review.
I don't normally write reviews but here we go.
Absolutely fuming.
What a joke.
Very disappointed with this order.
I've been a loyal customer for years and this is the worst experience I've had.
First time ordering from you and probably the last.
This is my second complaint this month.
Just a heads-up for anyone thinking of ordering.
Honestly shocked.
I hate having to write this.
Unbelievable.
Feedback as requested:
You asked for feedback, so here it is.
Ugh.
Not a great experience, sadly.
Long story, sorry.
I'll keep this short.
Still not sorted.
Frustrated doesn't cover it.
Please read this properly.
I've tried to be patient.
Another problem with your shop.
Hi,
Dear customer services,
""")
CONTEXT = plain("""
I ordered {a_item} on {date}.
It was meant to be a present for my mum.
Order number is {order}.
This was order {order}, placed on {date}.
I paid {amount} for {them}.
It was a birthday present for my son.
I've shopped with you for years.
We bought {the_item} for our new flat.
I ordered {the_item} on your app on {date}.
I bought {the_item} in your sale.
Ordered {the_item} last {weekday}.
This is about order {order}.
My partner ordered {the_item} for me.
I placed the order on {date} and paid by card.
""")
FEELINGS = plain("""
I'm really fed up.
It's just not good enough.
I honestly don't know what else to do.
This has ruined my week.
I'm so annoyed.
What a mess.
It shouldn't be this hard.
I expected better from you.
Very poor.
I'm beyond frustrated at this point.
Absolutely ridiculous.
It's a shambles.
Shocking, really.
Not what I expect from a company your size.
I feel completely let down.
""")
NEG_CLOSE = plain("""
Sort it out.
Very disappointed.
I expect a reply this time.
Never again.
Please advise.
Not impressed.
Can someone please look into this.
I'll be taking my business elsewhere.
One star.
Avoid.
Please fix this.
Thanks for nothing.
I want this resolved this week.
Do better.
Would not recommend.
Waiting to hear back.
Please get back to me.
Shame, I used to like this shop.
I've had enough.
Regards.
Rant over.
I'm closing my account.
Absolutely useless.
Kind regards, a very unhappy customer.
""")
GENERAL_NEG = plain("""
Terrible experience.
Worst shop I've ever used.
Never again.
Awful from start to finish.
Really poor service overall.
Not worth the hassle.
I regret ordering from you.
Disappointing in every way.
What a waste of time and money.
Everything that could go wrong did.
I wouldn't wish this shop on anyone.
Poor. Just poor.
""")
# Praise that opens a text which is negative overall: (text, area praised, needs the goods to have arrived). Never
# combined with a complaint about the same area.
NEG_PRAISE = [
    ("The staff in store are always lovely.", "staff_attitude", False),
    ("Your prices are great.", "billing", False),
    ("I normally love shopping with you.", None, False),
    ("The website is easy to use, I'll give you that.", "website_app", False),
    ("{name} on live chat was really kind.", "staff_attitude", False),
    ("{The_item} look{s} nice enough.", "product_quality", True),
    ("Delivery was quick, I'll say that.", "delivery_delay", True),
    ("The packaging was good.", "damaged_item", True),
    ("The quality seems fine.", "product_quality", True),
    ("I've always recommended you to friends.", None, False),
    ("The driver was friendly enough.", "staff_attitude", True),
]

POS = {
    "delivery": pool("""
Arrived the next day and really well packed.
Super quick delivery.
Came a day earlier than expected!
Order {order} turned up within 48 hours, brilliant.
The driver was friendly and put it exactly where I asked.
Ordered late on {weekday} night and it was here the next afternoon.
Delivery was right on time, in the slot you gave me.
Fast shipping and everything arrived in perfect condition.
Really impressed with how fast it came.
"""),
    "product": pool("""
{The_item} {is} exactly as described.
Really pleased with {the_item}, great quality for the price.
Love my new {item}!
{The_item} look{s} even better than in the photos.
{The_item} {is} brilliant, exactly what I needed.
Great quality, I can tell {it}'ll last for years.
My {item} arrived today and I'm really happy with {them}.
[clothing,footwear] Perfect fit and really comfortable.
[consumable] Tastes great, will be buying again.
[liquid] Smells lovely and a little goes a long way.
[furniture] Sturdy, easy to put together and looks great.
[electronics] Works perfectly and it was really easy to set up.
Better than the one I paid twice as much for elsewhere.
"""),
    "staff": pool("""
{name} on the phone was so helpful.
The lady on live chat sorted everything in minutes.
Really polite and patient staff.
{name} went above and beyond to help me.
The agent was friendly and actually listened.
Whoever answered my email was lovely and sorted it the same day.
Great customer service, really friendly team.
{name} was a star, thank you.
"""),
    "returns": pool("""
My refund was in my account two days after I dropped the return off.
Returns were completely painless.
Easy return, the label printed in seconds and the refund was quick.
Refund processed really quickly, no questions asked.
The free returns made it an easy decision to order.
The collection for my return came on time and the refund followed the next day.
"""),
    "website": pool("""
The app is really easy to use.
Checkout was quick and simple.
The tracking was spot on, I knew exactly when it would arrive.
Your website is so easy to find things on.
Love the app, reordering takes seconds.
"""),
    "communication": pool("""
I was kept updated every step of the way.
Got a text with a one-hour slot and it came bang on time.
Clear emails at every stage, no need to chase anything.
Really good communication throughout.
"""),
    "general": pool("""
Five stars.
Would recommend.
Brilliant service as always.
Can't fault it.
Everything went smoothly.
Great experience from start to finish.
Really good value.
Excellent, thank you.
"""),
}
POS_OPEN = plain("""
Just wanted to say thank you.
Really impressed.
Wow.
Second order from you and still brilliant.
First time ordering and I'm impressed.
What a great experience.
I don't usually leave reviews but this deserves one.
Hi, quick bit of feedback.
Very happy customer here.
Lovely experience.
Feedback as requested:
Hello!
""")
POS_STORY = plain("""
I ordered {a_item} for my mum's birthday and was worried it wouldn't arrive in time.
I'd been putting off buying {a_item} for ages.
This was my first order with you after a friend recommended you.
I needed {a_item} in a hurry for a trip.
I was a bit nervous ordering {a_item} online without seeing {them} first.
Ordered {the_item} on {date} as a treat for myself.
My old {item} finally gave up, so I came to you for a replacement.
""")
POS_CLOSE = plain("""
Thanks again!
Will be back.
10/10.
Keep it up.
Will definitely order again.
Highly recommend.
Thank you so much!
Cheers!
Five stars from me.
Happy customer.
:)
Thanks team!
Already planning my next order.
""")
SHORT_POS = plain("""
great service!!
love it
perfect, thanks
super fast delivery
really happy
brilliant, thank you
spot on
excellent service
quick and easy
10/10 would order again
so pleased!
amazing quality
fab, cheers
lovely staff
no complaints
top notch
thank you so much
great stuff
fast and well packed
exactly as described
very helpful team
best online shop
quick refund, thanks
easy returns
love my new {item}
{item} is perfect
""")
NEUTRAL = pool("""
Parcel arrived today.
Order {order} received.
It's fine, does what it says.
Delivered on {weekday} as expected.
Left with the neighbour at number {house}, which is fine.
{The_item} {is} okay. Nothing special.
Haven't tried {them} yet, will update.
I returned {the_item} on {date}, reference {order}.
Please note my new address for future orders.
Is it possible to change my delivery day?
Does {the_item} come with a warranty?
Average experience.
Delivery on time, product as expected.
Collected from the locker on {weekday}.
The colour is a little darker than on screen but that's fine.
Smaller than I thought, but it does the job.
Spoke to someone about my order and it's been sorted.
Survey: 3 out of 5. Nothing to add.
Just confirming that I've received the replacement.
The refund of {amount2} has shown up in my account.
Order arrived, haven't opened it yet.
Bought {a_item} as a gift, so can't comment on {them} yet.
Standard delivery, standard packaging, nothing to report.
Can I add another item to order {order} before it ships?
{The_item} {was} delivered to the parcel locker as requested.
Received {the_item}. Will leave a proper review once I've used {them} for a while.
It is what it is. Does the job.
Paid by card, order confirmed, delivery booked for {weekday}.
[clothing,footwear] Tried {them} on, fit{s} as expected.
Middle of the road. Not bad, not great.
I called to change my delivery address and it was updated.
The item matches the description.
It's an okay product for the price.
Delivery was between 2 and 4 as the text said.
Two parcels arrived separately, both today.
I'd like a copy of the invoice for order {order} please.
The price was about the same as other shops.
I have no strong feelings either way.
The packaging was mostly cardboard, which is fine.
Got it. Thanks.
Do you deliver on Sundays?
[clothing,footwear,furniture,decor,kitchen,electronics,other] {Is} {the_item} available in {colour}?
I'm returning {the_item} as I changed my mind. Label used from the box.
Exchanged for a different size in store.
The driver asked for a signature, which I gave.
Used the click and collect option this time.
""")
SHORT_NEU = plain("""
ok
fine
it's alright
as expected
n/a
no comment
3 stars
average
arrived
received, thanks
does the job
nothing to add
okay i guess
meh
not bad not great
all received
order arrived
it's fine
""")

# ------------------------------------------------------------------------------------------ whole hand-written texts
# sentiment letter (N negative, U neutral, P positive) | aspects | text
WHOLE = """
N|delivery_delay,communication|Ordered a rain jacket for a hiking trip on the 2nd. The trip came and went. The jacket still hasn't come and there's been not one email from you explaining why. I had to buy one in town for twice the price.
N|refund_delay|still waiting on that money you owe me. sent the boots back on the 4th
N|communication|Third time I've explained this to one of your people. Each time I'm told someone will look into it and get back to me, and each time nobody does.
N|damaged_item,returns_process|The mirror arrived in about forty pieces. To return it, you want me to repack broken glass in the original box and take it to a drop-off point myself. Seriously?
N|billing|I was charged £64.98 for a £32.49 order. Looks like you took the payment twice. Please put it back.
N|staff_attitude|Your driver told me to 'get a bigger letterbox' when I asked him not to fold my parcel in half. Charming.
P||Honestly the best customer service I've had from any shop this year. Zara on the phone had my problem sorted before I'd even finished my tea.
U||Order #B2290 arrived Thursday. All items present.
N|wrong_item|I ordered the cream cushion covers and got bright orange. They don't go with anything in my house, or any house.
N|missing_item|the parcel said 3 of 3 but there was only the lamp base in it. no shade, no bulb
P||Quick delivery, nice packaging, the kids love the board game. Thank you!
N|product_quality,refund_delay|The toaster burns one side and leaves the other side raw. I sent it back three weeks ago and I'm still waiting for the refund.
N|website_app|I've tried to order on the app five times tonight. Every time I press pay, it throws me back to the basket. I give up.
N|delivery_delay|It's Friday. The dress for the wedding on Saturday was meant to come on Tuesday. I'll be wearing something else then.
N|returns_process|WHY do I need to phone you to get a returns label?? Just put it on the account page like every other shop.
N|refund_delay,communication|I've been given three different dates for my refund. First it was 'within 5 days', then 'end of the month', now 'we can't give a timeframe'. Just pay me.
P|delivery_delay|The order was a bit late arriving but the coat is gorgeous and fits perfectly, so all is forgiven.
N|staff_attitude,waiting_time|Waited fifty minutes on hold to be told by a very bored-sounding man that there was 'nothing he could do' and that I should 'try emailing'. Thanks for nothing.
U|delivery_delay|Delivery came a day after the estimated date. Item fine.
N||Worst online shopping experience I've ever had. I won't be ordering again.
N|damaged_item|kettle arived with a dent in the side and the lid wont close
N|billing,website_app|The site showed the discounted price of £18 right up until the payment page, where it suddenly became £27. I paid because I needed it, but that's not on.
P||Had a problem with my login and the chat assistant fixed it in two minutes. Nice one.
N|communication|You cancelled my order and didn't tell me. I only found out when I checked my bank and saw the money had gone back in.
N|product_quality|These vitamins smell like fish gone off. The last tub I got from you was fine.
N|waiting_time|I've been in your chat queue since 9am. It is now 11:40.
N|delivery_delay,staff_attitude|The driver turned up three days late and then got stroppy with me for not being in the first time he tried.
P||Really lovely touch putting a handwritten thank-you note in the box. Small things matter.
N|missing_item,communication|My parcel was marked delivered at 14:03. I was home all day. Nobody rang the bell and there is no parcel. I've emailed twice and had no answer.
N|wrong_item,returns_process|Got a size 14 instead of a 10, and now I have to pay £4.99 to send back your mistake. No.
N|refund_delay|Refund 'approved' on the 3rd. Today is the 21st. Where is it?
U||Could you tell me if the bookshelf comes with wall fixings?
P||Ordered on Sunday evening, arrived Monday lunchtime. Amazing.
N|damaged_item,delivery_delay|The parcel took nine days and when it finally arrived the box was wet through and the duvet inside smelt of damp.
N|staff_attitude|The person on the phone literally said 'not my problem, love'.
N|website_app,communication|Your tracking page has said 'label created' for a week. Is that true, or is the page just broken? Nobody can tell me.
N|returns_process,refund_delay|The courier collected my return on 12 May. You say you never received it. My money is in limbo and I'm £89 out of pocket.
P||The sofa is even comfier than the one in the showroom and the two delivery men were careful and polite. Very happy.
N|product_quality|Lovely looking backpack, shame the strap snapped on the second day of school.
N|billing|i cancelled the subscription in march but youve charged me for april and may as well
N|communication,delivery_delay|Every update you send says something different. Monday it was 'dispatched', Tuesday 'awaiting stock', Wednesday 'out for delivery'. It's now Friday and I have nothing.
P||You made a stressful week a lot easier. Thank you Ben for sorting my order out so quickly.
N|missing_item|The wardrobe came in two boxes. Box two is missing. I can't build half a wardrobe.
N|staff_attitude,communication|I asked a simple question and got a sarcastic reply that didn't even answer it.
N|delivery_delay|Parcel went to the wrong town apparently. Three weeks now.
U||Parcel left in the porch as instructed.
N|damaged_item|The picture frame glass is cracked right across the middle. Clearly not packed properly.
N|waiting_time|Asked for a callback on Monday. Then Tuesday. Then Wednesday. It's Thursday. Do you actually have phones?
N|refund_delay|You refunded £12 instead of £21. I think someone swapped the numbers round.
P||Great value vitamins, arrived quickly and the subscription is easy to pause when I'm away.
N|product_quality,staff_attitude|The blender motor burnt out after a fortnight and your agent told me I must have overfilled it. I didn't.
N|wrong_item|ordered the phone case for a 13, got one for a 12. camera hole in the wrong place. useless
P|damaged_item|One of the mugs arrived chipped but I sent a photo and a new one was in the post the next day. Brilliant service.
N||Never again. Just never again.
N|delivery_delay,communication,waiting_time|My order is two weeks late. Your emails say 'on its way' and nothing more. I rang and waited 40 minutes to hear the same thing. I've no idea if it's ever coming.
N|website_app|The app forgets my card details every single time.
U|missing_item|Order #K4471 was missing the charging cable. Please could you send one.
N|returns_process,communication|The returns page says 30 days, the slip in the box says 14, and the agent said 28. Which is it?
P||Love my new trainers, so comfy I've worn them every day since they arrived.
N|billing|There was a £6 'handling fee' added at the very end that wasn't mentioned anywhere. Sneaky.
N|damaged_item,staff_attitude|The courier threw the box onto the doorstep from the path. I watched him do it. The lamp inside is broken.
N|product_quality|Jeans faded after one wash and now look ten years old.
N|refund_delay,communication,waiting_time|Six weeks since my return. Four emails. Two phone calls with an hour on hold each time. Every person swears the refund is 'on its way'. My bank disagrees.
P||Smooth from start to finish. Easy to order, tracking worked, delivered on time, product great.
N|delivery_delay|Honestly, a carrier pigeon would've been quicker.
N|staff_attitude|The agent was patronising and kept calling me 'sweetheart'.
U||I've received the bar stools. One is a slightly different shade of grey but you can't really tell.
N|missing_item|Tracking says 'handed to resident'. Which resident? Not me.
N|wrong_item,communication|I was sent the wrong laptop stand. When I asked about it, I was told it was 'the updated version'. Nobody mentioned a different version when I ordered.
P||The refund was back in my account within 24 hours of dropping off the return. Seriously impressive.
N|website_app,billing|The checkout timed out so I tried again. Now I have two orders and two payments. I only wanted one suitcase.
N|product_quality|The 'leather' boots are plastic. You can smell it from across the room.
N|delivery_delay,missing_item|First the order was a week late. Then when it finally came, the pillows I ordered with the duvet weren't in the box.
P||I was dreading the return but it was honestly easier than posting a birthday card. Well done.
N|communication|No one has told me anything. Is my order coming or not?
N|damaged_item|Shampoo leaked everywhere. Everything else in the parcel is sticky.
N|waiting_time|Hold time today: 1 hour 12 minutes. New personal record.
P||Ordered the wrong size myself, and the exchange was free and fast. Couldn't ask for more.
N|refund_delay|You've had my return since the 1st and my £45 since well before that.
N|staff_attitude,missing_item|I reported the missing item and the agent more or less accused me of stealing it myself.
N|billing|invoice shows 3 x coffee beans, i ordered and recieved 2. please correct
U||Item as described. Delivery on schedule.
N|delivery_delay|DELIVERY WAS SUPPOSED TO BE TODAY. WHERE IS IT.
N|product_quality,returns_process|The smart watch loses connection every hour. When I tried to return it, you said it was past the return window, even though it's been faulty since day one.
P|waiting_time|Took a while to get through on the phone, but the lady I spoke to was brilliant and my replacement is already on its way.
N|communication|Your 'we'll be in touch within 48 hours' has now lasted 9 days.
N|website_app|Search for 'blue' and you get results for 'glue'. Brilliant.
N|damaged_item,refund_delay|The sofa arrived with a ripped arm. It was collected for return a month ago. Refund: still nothing.
N|delivery_delay|been waiting since the 3rd for some tea bags. TEA BAGS.
P||Wonderful service. The lady who delivered my wardrobe even helped me carry it upstairs.
N|wrong_item|Ordered 6 bar stools. Got 6 bar stools: 3 black, 3 white. I ordered black.
N|staff_attitude,waiting_time|After half an hour on hold I got someone who sighed and said 'what is it now'.
N|billing,communication|My bank shows a charge of £119 from you. I have no order for £119. Your email reply said 'please check your account'. I have. That's why I'm writing.
P||Couldn't be happier with the dinner plates. Well packed, arrived quickly, look beautiful.
N|returns_process,staff_attitude|The courier refused to take the return, said the label was 'wrong', and drove off before I could ask what he meant.
U|refund_delay|The refund for my return on 14 June hasn't come through yet. Could you check please? Ref R-6612.
N|delivery_delay,communication,waiting_time|I ordered a desk chair on the 2nd because my old one broke and I work from home. The confirmation said delivery in 3-5 working days. On day six I rang and waited 35 minutes, only to be told it was 'with the courier'. The courier says they never received it. Your team now says it's 'being investigated'. Meanwhile I'm working at the kitchen table on a stool. Please, someone, just tell me when it's coming.
N|damaged_item,returns_process,refund_delay|The glass teapot was shattered when I opened the box, bits of glass everywhere, and I cut my finger clearing it up. I sent photos the same day. You asked me to post the broken pieces back (why?) so I taped it all up and paid £3.80 to send it. That was three weeks ago and I haven't had the refund or the postage back.
P|refund_delay|I'll be honest, the refund took longer than I'd like, about two weeks. But the rest of the experience was great: helpful staff, good quality curtains, and they look lovely in the living room. I'd order again.
N|billing,refund_delay,communication|Long one, sorry. I ordered two pairs of school shoes and was charged for three. I reported it the same day and got an email saying the extra £34 would be back in 3-5 days. Ten days later, nothing, so I emailed again and got a reply saying there was 'no record of an overcharge'. I sent a screenshot of my bank statement. No reply since. This is money I need for the kids.
U||Hi, I ordered a chest of drawers last week (order #C7719). It arrived yesterday, the two men carried it upstairs and took the packaging away. Haven't assembled it yet so I'll leave a review once I have.
N|product_quality|I wanted to like this hair dryer, I really did. It's pretty and it's light. But it takes about twenty minutes to dry my hair, it smells of burning plastic on the hot setting, and this morning it cut out completely. For £60 I expected a lot more.
N|staff_attitude,delivery_delay|Your driver arrived two hours after the end of my slot, parked across my neighbour's drive, and when I politely asked him to move he told me to 'take it up with head office'. The parcel was fine, the man was not.
N|website_app,waiting_time|I've spent the whole evening trying to update my card on your app. It says 'something went wrong' every time. The chat says the wait is 90 minutes. I have better things to do.
P||Absolutely delighted. The bed frame went together in under an hour, the instructions were clear, nothing was missing and it feels really solid. Delivery men were lovely too.
N|communication,refund_delay|Please stop sending me emails asking me to review my order. Your last email told me my refund would be processed, and it hasn't been. How about replying to the email I sent instead?
N|missing_item,waiting_time|Half of the dinner set was missing, just four bowls and no plates. I've been trying to get through on the phone since Monday. Nobody picks up.
N|wrong_item,refund_delay|You sent me a grey jumper instead of the green one. Fine, mistakes happen. I sent it back the next day. That was a month ago and I'm still waiting for my money.
P|website_app|The app was being a pain and wouldn't let me pay, but the team on chat put the order through for me in five minutes. Top service.
N|delivery_delay|I've had faster deliveries from the other side of the world.
N|damaged_item|My brand new suitcase came with a wheel hanging off and a great big crack in the shell.
N|product_quality|This protein powder doesn't mix no matter what I do. Lumps everywhere, tastes of chalk.
N|billing|Why have I been charged for 'priority handling'? I never ticked that.
N|waiting_time|Been waiting since Tuesday for a reply to a one-line question.
N|refund_delay|30 days since you received the return. 0 pounds received.
N|returns_process|The returns drop-off point you sent me to closed down last year.
N|staff_attitude|The girl on the phone put me on hold in the middle of my sentence. Twice.
N|communication|Nobody bothered to tell me the colour had been discontinued. I found out when the parcel came with a note in it.
N|website_app|the website wont let me checkout with my new address, says its 'outside the delivery area'. it's the same town!!
P||The perfume smells exactly like the one I had years ago. So happy I found it again.
P||Customer service 10/10. Aisha stayed on the phone with me until it was all sorted.
P||Super easy to order, delivered on time, exactly what I wanted.
P||Ordered curtains for the nursery, they're perfect. Thank you.
P||So impressed with the packaging, not a single plastic bag in sight.
P||Parcel came in a one-hour slot that was actually accurate. Miracles do happen!
P||I've ordered from loads of places and yours is the only one that gets it right every time.
P||Great price, arrived fast, the kids were thrilled with the scooter.
P||Returned some shoes that didn't fit, refund landed two days later. Easy.
P||Thanks for the quick reply to my question about sizing, it really helped.
P||really good experience overall, will use again
P||GREAT SERVICE, THANK YOU!!!
P||the tablet is fab and arrived earlier than expected, very pleased
P||Massive thanks to the delivery driver who waited while I ran down three flights of stairs.
P||Lovely coffee beans, freshly roasted, delivered in two days.
P||Best customer service I've ever had, no exaggeration.
P|missing_item|The feet for the sofa weren't in the box, but I rang and they were couriered to me the next morning. Brilliant, thank you Omar.
P|billing|There was a small mix-up with the invoice, but it was fixed within the hour. Otherwise a perfect order.
P|product_quality|The colour is a touch darker than in the photo, but honestly the dress is stunning and I got so many compliments.
U||I was asked to leave feedback. The delivery arrived, the product works. That's all really.
U||Second delivery this week. Both fine.
U||The jumper is a bit bigger than I expected but it's meant to be oversized I think.
U||Can you let me know when the sage green kettle is back in stock?
U||I paid with a gift card and the rest on my debit card. Both have gone through.
U||Parcel collected from the post office after a missed delivery card. All fine.
U||Replacement received. I'll post the faulty one back tomorrow.
U||The item was fine. The box was bigger than it needed to be.
U||Signed for by my husband at 10:40.
U||Neither good nor bad, just a normal order.
U||Bought it on offer. Not sure I'd pay full price, but it's fine.
U||Survey comment: no issues to report.
U||Please change the name on my account to my married name.
U||I received the order confirmation and the dispatch email on the same day.
U|wrong_item|Small thing: I got the 6-pack rather than the 12-pack, order #R5502. Could you send the difference?
U|website_app|FYI the 'forgot password' link on the app goes to a blank page. I reset it on the website instead.
U|damaged_item|One of the wine glasses was broken on arrival, the other five are fine. Photo attached for your records.
N|delivery_delay,communication|Look, I understand there are delays. What I don't understand is why your emails keep telling me it'll be 'tomorrow' every single day.
N|product_quality|You'd think a £200 sofa bed would survive a single guest. You'd be wrong.
N|billing,staff_attitude|Overcharged by £15 and when I pointed it out the agent said 'prices change, that's business'. Not when I've got a confirmation email with the lower price on it, they don't.
N|missing_item|Bought the bundle with the charger included. No charger. Shocking.
N|delivery_delay,staff_attitude|It's been stuck at the depot for 6 days and the depot staff just hung up on me when I rang.
N|wrong_item|Asked for decaf, got double-strength espresso beans. Not ideal for someone who isn't allowed caffeine.
N|damaged_item,communication|The lid on the casserole dish was cracked and I reported it with photos on the 10th. I've heard nothing back.
N|returns_process|Printed the label, taped up the box, walked to the shop, and they said your returns are 'not accepted here anymore'. Great.
N|refund_delay,staff_attitude|I asked politely where my refund was and was told to 'stop chasing, it'll come when it comes'.
N|waiting_time,website_app|Your chatbot keeps sending me round in circles and the real person queue is over an hour long.
N|product_quality,returns_process|The umbrella turned inside out the first windy day and snapped. Apparently 'weather damage' isn't covered so I can't return it. It's an umbrella.
N|communication|I was promised a phone call from the complaints team. Two weeks on, nothing.
N|billing|Your price match promise is a joke. I sent proof and was still charged the higher price.
N|staff_attitude|Every person I spoke to treated me like I was trying to scam them.
N|delivery_delay,website_app|The tracking link doesn't work and the parcel is four days overdue. So I have no idea where it is.
N|missing_item,refund_delay|Parcel never turned up despite the 'delivered' status. You said you'd refund me after an investigation. That was five weeks ago.
N|wrong_item,staff_attitude|Sent the wrong colour twice. On the second call, the agent told me I must have picked it by accident. I have the confirmation email. I didn't.
N|damaged_item|The cat treats arrived as a bag of crumbs. Box completely flattened.
N|product_quality|Slippers lost all their fluff after a week. Now they're just sad little pads.
N|delivery_delay|3 weeks. for a phone case.
N|refund_delay|u still owe me £27.50 from the return in august
N|returns_process,website_app|Your returns page asks me to pick a reason from a list and none of them apply, and there's no 'other' box. So I'm stuck.
N|billing,refund_delay|You charged me for delivery twice, admitted it, and said you'd refund it. That was in April.
N|waiting_time|Four days to get an answer to 'what size is the box'.
N|communication,waiting_time|The same question, asked four times over two weeks, got four completely different answers, each after days of waiting.
N|staff_attitude,returns_process|The man at the returns desk inspected my jumper like it was evidence in a murder case and then told me I'd 'obviously worn it'. I hadn't.
N||I'm done with this company.
N||That's the last time I order from here, honestly.
N||Really, really disappointing experience.
N||Words can't describe how fed up I am with you lot.
N|product_quality|Bath oil has separated into a weird gloopy layer. Not what I paid £18 for.
N|damaged_item|Chest of drawers arrived with a drawer front split in half. Packaging was basically a bin bag.
N|delivery_delay,damaged_item|Arrived ten days late and the bookshelf was scratched down one side. A double whammy.
N|wrong_item,missing_item|I ordered a desk fan and a hair dryer. I got a hair dryer, in the wrong colour, and no fan.
N|website_app|The 'apply voucher' button has been broken for about three months now. Does anyone there check the site?
N|communication,delivery_delay|Nobody told me the sofa would be delivered to the kerb only. It's sitting on the pavement in the rain as I type this.
N|billing|i was charged £4.99 for a bag?? its an online order
N|staff_attitude|The delivery guy rolled his eyes when I asked him to bring it to the door rather than leave it at the gate.
N|refund_delay|Waiting on a refund of £312.00 for a sofa you never delivered. That's not small change.
N|returns_process|Three weeks of trying to arrange a collection for a wardrobe. Three missed slots.
N|waiting_time,staff_attitude|Two hours in the queue and then the agent didn't even say hello, just 'order number'.
N|product_quality|This kettle takes forever to boil and it leaks from the bottom. Back to my old one.
N|website_app|Can't even log in to complain because your site keeps saying my password is wrong. It's not.
N|communication|The 'order update' emails contain no update. Literally just 'your order is being processed'.
N|delivery_delay|WHERE IS MY PARCEL. it's been 2 WEEKS.
N|missing_item|i've been sent an empty box. how does that even happen
N|damaged_item|The bluetooth speaker arrived with the grille pushed right in. Looks like someone sat on it.
N|wrong_item|I ordered a king size duvet. This is a single. It barely covers one of us.
N|returns_process,billing|Your website says free returns. I was charged £3.95 for the label. Which is it?
N|refund_delay|You've given me a voucher instead of a refund. I don't want a voucher, I want my money.
N|staff_attitude,communication|The courier left a card saying I wasn't in. I was in. When I complained, the depot said I must be confused.
N|product_quality|The pyjamas shed bits of fluff over everything. Bed, floor, cat.
N|website_app,missing_item|The app says my order has been delivered but it never arrived, and the 'report a problem' button does nothing.
N|billing,communication|I've asked three times for a proper VAT invoice. Three times I've been sent the same useless order confirmation.
N|waiting_time|I rang at 9, got through at 10:05. Ridiculous.
N|damaged_item,missing_item|Half the order was missing and the half that came was broken.
N|delivery_delay,refund_delay|You took 4 weeks to deliver, so I cancelled. Now you're taking 4 weeks to refund. At least you're consistent.
N|product_quality,communication|The listing said 'machine washable'. The label inside says dry clean only. I washed it. It's ruined.
P||Five stars for Grace in customer service, she was so kind when I rang about my mum's order.
P||Love, love, love the coffee table. Looks much more expensive than it was.
P||Honestly can't believe how fast this came, ordered at 10pm and it was here by lunch.
P||very pleased with my boots, comfy straight out of the box
P||Smooth return, friendly driver, refund in 3 days. What more can you ask?
P||Sent my order to the wrong address by mistake (my fault!) and you redirected it within an hour. Thank you!
P||Good quality and good value. Happy with everything.
P||A lovely little shop with a great website. Ordering was a breeze.
P||The agent on live chat was patient with my endless questions about sizes. Really appreciated it.
P||Thank you for the birthday discount, what a nice surprise!
P||Delivered two days early and set up in minutes. Love it.
P||Cracking service. Will tell my friends.
P||My mum is over the moon with her new slippers, thank you.
P||Fast, polite, well packaged. Exactly how online shopping should be.
P||This is my fifth order and every one has been perfect.
P||Arrived in a lovely box, perfect for a gift. Thanks!
P||the refund was quicker than the delivery lol. great service both ways
P||Was nervous about ordering a sofa online, but it's perfect and the delivery team were fantastic.
P|damaged_item|Umbrella came with a bent spoke, but they sent a new one without even asking for it back. Fair play.
P|delivery_delay|Took about a week longer than I'd hoped, but the garden chairs are excellent quality and really comfortable.
P|waiting_time|Bit of a queue on the phone, but Rory was brilliant when I got through.
U||The tracking shows it's at the local depot.
U||Will the wardrobe come assembled or flat-packed?
U||I need to change the delivery address on order #T8813 to my work address.
U||It's exactly what it says on the tin. Nothing more to say.
U||Picked up from the store as arranged.
U||Standard experience. Fine.
U||The bath oil is nice, the smell is quite mild.
U||Can you deliver to a PO box?
U||I haven't used the blender yet, it's for a present.
U||Received, thank you. Will be in touch if there's a problem.
U||The parcel was left in my recycling bin, as per my instructions.
U||Order cancelled at my request. Thanks.
N|delivery_delay|Oh good, another 'your parcel is delayed' text. My favourite.
N|refund_delay|Your refund 'in 3 to 5 working days' appears to use a very different calendar from mine.
N|website_app|Love how the app logs me out every time I switch to check my banking app for the card number. Really user friendly.
N|staff_attitude|Such a pleasure to be told I was 'overreacting' by the customer service team. Ten out of ten, would be belittled again.
N|wrong_item|Wonderful, I now own a size 6 pair of boots. I'm a size 9.
N|missing_item|Brilliant. A box of air. Exactly what I wanted for £45.
N|communication|Your update emails are a work of art: three paragraphs and not a single fact.
N|billing|Thanks for charging me twice, I wasn't using that money anyway.
N|waiting_time|I've aged a year waiting for your chat agent.
N|returns_process|Returning a pair of socks shouldn't require a degree in logistics, but here we are.
N|product_quality|This 'premium' phone case cracked the first time I dropped the phone. Now it's premium rubbish.
N|damaged_item|Loved the 'distressed' look on my brand new coffee table. Oh wait, that was your courier.
N|delivery_delay,communication|Dear Sir or Madam, I placed order #L3348 on 4 November with a stated delivery date of 8 November. As of today, 19 November, I have received neither the goods nor any explanation. I would be grateful for an immediate update and a firm delivery date.
N|billing,refund_delay|To whom it may concern. I was charged £86.40 for order #P2210, although the order total was £68.40. I raised this on 2 March and was assured the difference would be refunded. It has not been. Please treat this as a formal complaint.
N|product_quality,refund_delay|I am writing regarding the smart watch purchased on 12 January. The device stopped holding a charge after nine days. I returned it under warranty and have yet to receive either a replacement or a refund, six weeks later.
N|staff_attitude|I wish to complain about the conduct of your delivery driver on Tuesday 15th, who was verbally aggressive towards my elderly father when asked to carry the parcel inside.
N|returns_process|I'd like to raise a concern about your return policy for personalised items, which is not stated anywhere on the product page. Had I known, I would not have ordered.
P||Dear team, I just wanted to thank you for the excellent service I received when my order needed changing. Your colleague Marcus was courteous and efficient throughout. Kind regards, Mrs Patel.
U||Dear Sir or Madam, please find attached my return form for order #H4021. The item is unused and in its original packaging. Regards.
N|delivery_delay,damaged_item,staff_attitude,communication|Where do I begin. The parcel was a week late. When it came, the driver dropped it on the step and walked off. Inside, the lamp was smashed. I emailed photos and heard nothing for eight days. This is a mess from start to finish.
N|billing,website_app,waiting_time|The website crashed on the payment page. I was charged. No order was created. I rang, waited an hour, and was told to 'wait for the money to drop off', which it hasn't.
N|wrong_item,returns_process,refund_delay|Wrong item, then a returns label that didn't scan, then a refund that's been 'processing' for three weeks. Three strikes.
N|missing_item,communication,waiting_time|Box arrived with two of my five items. I've reported it by email (no reply), by chat (an hour's wait, then disconnected) and by phone (told someone would call me). No one has.
P||I've been a customer for nine years and you've never let me down. Thank you for being consistently brilliant.
P||Bought a dress for my daughter's graduation, it arrived in two days and she looked beautiful. Thank you!
P||Honest review: good product, decent price, fast delivery. Would buy again.
U||Ordered Tuesday, arrived Friday. Good enough.
N|delivery_delay|Ordered Tuesday for a Friday party. It arrived the following Monday. Useless.
N|damaged_item|ceramic vase came in bits. bubble wrap would of helped
N|delivery_delay|Stil no sign of my pacakge, it was meant to come last week
N|product_quality|very dissapointed with the quality, the handles on the mugs are wonky and one came off in my hand
N|refund_delay|i recieved an email saying my refund was sent but theres nothing in my acount
N|wrong_item|Thats not the headphones i ordered, these are the cheap ones
N|waiting_time|been on hold 50 mins whats the point
N|staff_attitude|your driver is so rude he just chucked it at me and walked of
N|communication|NO ONE HAS REPLIED TO ANY OF MY EMAILS. NOT ONE.
N|billing|CHARGED ME TWICE. SORT IT OUT.
N|returns_process|RETURNS LABEL DOESNT WORK. THIRD ONE YOU'VE SENT.
N|website_app|seriously fix your app, it crashes when i open my orders
P||honestly amazing, fast delivery and great qaulity
P||thank u so much to the lovely lady on the phone today xx
U||recieved today thanks
"""

# ---------------------------------------------------------------------------------------------------------- typos
MISSPELL = {
    "received": "recieved", "receive": "recieve", "disappointed": "dissapointed", "disappointing": "dissapointing",
    "package": "pacakge", "definitely": "definately", "separate": "seperate", "separately": "seperately",
    "delivery": "delivey", "delivered": "deliverd", "because": "becuase", "address": "adress",
    "tomorrow": "tommorow", "until": "untill", "arrived": "arived", "which": "wich", "really": "realy",
    "customer": "custmer", "business": "buisness", "immediately": "immediatly", "completely": "completly",
    "excellent": "excelent", "necessary": "neccessary", "beautiful": "beautifull", "believe": "beleive",
    "quality": "qaulity", "waiting": "wating", "parcel": "parcle", "service": "servise", "apparently": "apparantly",
    "nothing": "nothin", "having": "haveing", "actually": "acually", "absolutely": "absolutly",
    "refund": "refnud", "already": "allready", "again": "agian", "order": "oder", "thought": "thougth",
    "weird": "wierd", "probably": "probly", "would've": "would of", "could've": "could of",
}
TEXTSPEAK = {"you": "u", "your": "ur", "please": "pls", "thanks": "thx", "because": "cos", "are": "r",
             "tonight": "2nite", "before": "b4", "really": "rly"}


def _replace_words(text: str, table: dict, rng: random.Random, rate: float) -> str:
    def sub(m: re.Match) -> str:
        word = m.group(0)
        low = word.lower()
        if low in table and rng.random() < rate:
            new = table[low]
            return new.capitalize() if word[0].isupper() else new
        return word
    return re.sub(r"[A-Za-z']+", sub, text)


def add_typos(text: str, sentiment: str, rng: random.Random) -> str:
    ops = rng.sample(["misspell", "misspell", "apostrophe", "lower", "punct", "swap", "textspeak"], rng.randint(1, 3))
    if sentiment == "negative" and len(text) < 220 and rng.random() < 0.12:
        ops = ["caps"] + [o for o in ops if o in ("misspell", "apostrophe")]
    for op in ops:
        if op == "misspell":
            new = _replace_words(text, MISSPELL, rng, 0.7)
            if new == text:  # nothing to misspell: drop a letter from one longer word
                words = [w for w in re.findall(r"[a-z]{6,}", text)]
                if words:
                    w = rng.choice(words)
                    i = rng.randrange(1, len(w) - 1)
                    new = text.replace(w, w[:i] + w[i + 1:], 1)
            text = new
        elif op == "apostrophe":
            text = text.replace("'", "")
        elif op == "lower":
            text = text.lower()
        elif op == "punct":
            text = re.sub(r"[.,;:](?=\s|$)", "", text)
        elif op == "swap":
            words = re.findall(r"[a-z]{5,}", text)
            if words:
                w = rng.choice(words)
                i = rng.randrange(1, len(w) - 2)
                text = text.replace(w, w[:i] + w[i + 1] + w[i] + w[i + 2:], 1)
        elif op == "textspeak":
            text = _replace_words(text, TEXTSPEAK, rng, 0.8)
        elif op == "caps":
            text = text.upper()
    return text


# ---------------------------------------------------------------------------------------------------- composition
NAME_SET = set(AGENTS)


def lower_first(s: str) -> str:
    first = s.split(" ", 1)[0].rstrip(",.'!")
    if first in ("I", "I'm", "I've", "I'd", "I'll") or first in NAME_SET or s[:1] in "#'" or s[:2].isupper():
        return s
    return s[:1].lower() + s[1:]


def fill(template: str, ctx: dict) -> str:
    return template.format_map(ctx)


def choose(rng: random.Random, entries: list, ctx: dict, state: str | None = None, used: set | None = None):
    """One (text, extra aspects) from a pool, respecting category tags and the order state ('pending': nothing has
    arrived, 'arrived': the goods came, None: either)."""
    ok = []
    for text, cats, extra in entries:
        if cats:
            if ("pending" in cats and state == "arrived") or ("arrived" in cats and state == "pending"):
                continue
            product_cats = cats - {"pending", "arrived"}
            if product_cats and ctx["cat"] not in product_cats:
                continue
        if used and text in used:
            continue
        ok.append((text, extra))
    if not ok:
        raise LookupError(f"no template fits {ctx['cat']}/{state}: {entries[0][0]!r}")
    text, extra = rng.choice(ok)
    if used is not None:
        used.add(text)
    return fill(text, ctx), extra


def damage_group(cat: str) -> str:
    return "fragile" if cat in ("kitchen", "decor") else cat


def complaint(rng: random.Random, aspect: str, ctx: dict, state: str, used: set) -> tuple[str, tuple]:
    if aspect == "damaged_item":
        group = damage_group(ctx["cat"])
        r = rng.random()
        if r < 0.45:
            dmg = rng.choice(DAMAGE_STATE[group] + DAMAGE_WITH[group])
            return fill(rng.choice(DAMAGE_ARRIVE), dict(ctx, dmg=dmg)), ()
        if r < 0.85:
            return fill(rng.choice(DAMAGE_STATE_T), dict(ctx, dmgs=rng.choice(DAMAGE_STATE[group]))), ()
        return choose(rng, DAMAGE_GENERIC, ctx, used=used)
    if aspect == "product_quality":
        if rng.random() < 0.82:
            pq = fill(rng.choice(QUALITY_PRED[ctx["cat"]]), ctx)
            return fill(rng.choice(QUALITY_T), dict(ctx, pq=pq)), ()
        return choose(rng, QUALITY_GENERIC, ctx, used=used)
    return choose(rng, COMPLAINTS[aspect], ctx, state, used)


class Balancer:
    """Keeps the aspect counts level: the next primary aspect is one of the least used."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.counts = Counter()

    def primary(self) -> str:
        ranked = sorted(ASPECTS, key=lambda a: (self.counts[a], self.rng.random()))
        return ranked[0] if self.rng.random() < 0.6 else self.rng.choice(ranked[:6])

    def secondary(self, chosen: list[str]) -> str | None:
        for _ in range(20):
            if self.rng.random() < 0.65:
                cand = self.rng.choice(RELATED[chosen[0]])
            else:
                cand = self.rng.choice(ASPECTS)
            if cand in chosen or any(frozenset((cand, c)) in INCOMPATIBLE for c in chosen):
                continue
            return cand
        return None


def negative(rng: random.Random, bal: Balancer) -> tuple[str, list[str]]:
    ctx = make_ctx(rng)
    r = rng.random()
    if r < 0.09:  # very short
        a = bal.primary()
        text = fill(rng.choice(SHORT_NEG[a]), ctx)
        if text[-1] in "?!":
            text += rng.choice(["", "", "!", " :("])
        else:
            text += rng.choice(["", "", "", "!", "!!", "...", ". again", " ffs", " :(", ". not happy"])
        return text, [a]
    if r < 0.13:  # no particular aspect
        parts = [rng.choice(GENERAL_NEG)]
        if rng.random() < 0.6:
            parts.append(rng.choice(FEELINGS + NEG_CLOSE))
        return " ".join(parts), []
    if r < 0.18:  # sarcasm
        a = bal.primary()
        text, extra = choose(rng, SARCASM[a], ctx)
        if rng.random() < 0.35:
            text += " " + rng.choice(NEG_CLOSE)
        return text, [a, *extra]

    k = rng.choices([1, 2, 3], [0.76, 0.19, 0.05])[0]
    chosen = [bal.primary()]
    while len(chosen) < k:
        nxt = bal.secondary(chosen)
        if not nxt:
            break
        chosen.append(nxt)
    chosen.sort(key=STORY_ORDER.index)
    state = "arrived" if any(a in ARRIVAL for a in chosen) else rng.choice(["pending", "pending", "arrived"])
    long_text = rng.random() < 0.5
    very_long = long_text and rng.random() < 0.3
    used: set = set()
    sentences = []
    aspects = list(chosen)
    for i, a in enumerate(chosen):
        text, extra = complaint(rng, a, ctx, state, used)
        sentences.append(text)
        aspects.extend(x for x in extra if x not in aspects)
        if long_text and rng.random() < (0.85 if k == 1 or very_long else 0.45):
            sentences.append(choose(rng, FOLLOW[a], ctx, state, used)[0])
        if (k == 1 or very_long) and long_text and a not in ("damaged_item", "product_quality", "wrong_item", "missing_item") and rng.random() < 0.35:
            text, extra = complaint(rng, a, ctx, state, used)
            sentences.append(text)
            aspects.extend(x for x in extra if x not in aspects)
    if any(frozenset((x, y)) in INCOMPATIBLE for x in aspects for y in aspects):
        return negative(rng, bal)

    parts = []
    if rng.random() < (0.8 if very_long else 0.45 if long_text else 0.2):
        parts.append(rng.choice(NEG_OPEN))
    if rng.random() < (0.9 if very_long else 0.6 if long_text else 0.15):
        parts.append(fill(rng.choice(CONTEXT), ctx))
    praise = [p for p in NEG_PRAISE if p[1] not in aspects and (state == "arrived" or not p[2])]
    if rng.random() < 0.1 and praise:
        parts.append(fill(rng.choice(praise)[0], ctx))
        sentences[0] = rng.choice(["But ", "However, ", "Shame that "]) + lower_first(sentences[0])
    parts.extend(sentences)
    if long_text and rng.random() < (0.7 if very_long else 0.4):
        parts.append(rng.choice(IMPACT))
    if rng.random() < (0.6 if very_long else 0.4 if long_text else 0.12):
        parts.append(rng.choice(FEELINGS))
    if rng.random() < (0.7 if very_long else 0.5 if long_text else 0.25):
        parts.append(rng.choice(NEG_CLOSE))
    text = join(parts)
    while len(text) > 600 and len(parts) > 2:  # keep under ~600 characters: drop framing first
        parts.pop(0 if parts[0] not in sentences else -1)
        text = join(parts)
    return text, aspects


def join(parts: list[str]) -> str:
    out = ""
    for p in parts:
        if not out:
            out = p
        elif out.endswith(","):
            out += " " + lower_first(p)
        else:
            out += " " + p
    return out


def positive(rng: random.Random, bal: Balancer) -> tuple[str, list[str]]:
    ctx = make_ctx(rng)
    r = rng.random()
    if r < 0.16:
        text = fill(rng.choice(SHORT_POS), ctx)
        return text + rng.choice(["", "", "", "!", " :)", "!!", ", thanks"]), []
    if r < 0.24:  # fixed problem, positive overall
        a = bal.primary()
        text, _ = choose(rng, RESOLVED[a], ctx)
        if rng.random() < 0.4:
            text += " " + rng.choice(POS_CLOSE)
        return text, [a]
    topics = rng.sample(list(POS), rng.choices([1, 2, 3, 4], [0.42, 0.36, 0.16, 0.06])[0])
    topics.sort(key=lambda t: t == "general")
    parts = []
    if rng.random() < 0.3:
        parts.append(rng.choice(POS_OPEN))
    if rng.random() < 0.25:
        parts.append(fill(rng.choice(POS_STORY), ctx))
    used: set = set()
    for t in topics:
        parts.append(choose(rng, POS[t], ctx, used=used)[0])
    aspects = []
    if r < 0.34:  # praise with one small complaint
        a = bal.primary()
        m = fill(rng.choice(MILD[a]), ctx)
        parts.append(fill(rng.choice(MIXED_POS), dict(ctx, m=m, M=m[:1].upper() + m[1:])))
        aspects = [a]
    if rng.random() < 0.45:
        parts.append(rng.choice(POS_CLOSE))
    return join(parts), aspects


def neutral(rng: random.Random, bal: Balancer) -> tuple[str, list[str]]:
    ctx = make_ctx(rng)
    r = rng.random()
    if r < 0.15:
        return rng.choice(SHORT_NEU), []
    if r < 0.27:
        a = bal.primary()
        if a not in NEUTRAL_ASPECT:
            return neutral(rng, bal)
        text, _ = choose(rng, NEUTRAL_ASPECT[a], ctx)
        return text, [a]
    used: set = set()
    parts = [choose(rng, NEUTRAL, ctx, used=used)[0]]
    if rng.random() < 0.2:
        generic = [e for e in NEUTRAL if "{" not in e[0] and not e[0].endswith("?") and e[0] not in used]
        parts.append(rng.choice(generic)[0])
    return " ".join(parts), []


def norm(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9 ]", " ", text.lower()).split())


def build(total: int = TOTAL, seed: int = SEED) -> list[dict]:
    rng = random.Random(seed)
    bal = Balancer(rng)
    rows, seen = [], set()
    letters = {"N": "negative", "U": "neutral", "P": "positive"}
    for line in WHOLE.strip().splitlines():
        s, aspects, text = line.split("|", 2)
        labels = [a for a in aspects.split(",") if a]
        assert all(a in ASPECTS for a in labels), line
        key = norm(text)
        assert key not in seen, line
        seen.add(key)
        rows.append({"text": text, "sentiment": letters[s], "aspects": labels})
        bal.counts.update(labels)
    have = Counter(r["sentiment"] for r in rows)
    plan = []
    for s, share in SHARES.items():
        plan += [s] * max(0, round(total * share) - have[s])
    rng.shuffle(plan)
    makers = {"negative": negative, "neutral": neutral, "positive": positive}
    for sentiment in plan:
        for _ in range(200):
            text, aspects = makers[sentiment](rng, bal)
            if rng.random() < 0.16:
                text = add_typos(text, sentiment, rng)
            elif rng.random() < 0.9:
                text = text[:1].upper() + text[1:]
            key = norm(text)
            if key and key not in seen and len(text) <= 620:
                break
        else:
            continue
        seen.add(key)
        labels = [a for a in ASPECTS if a in aspects]
        bal.counts.update(labels)
        rows.append({"text": text, "sentiment": sentiment, "aspects": labels})
    rng.shuffle(rows)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    rows = build()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    sentiments = Counter(r["sentiment"] for r in rows)
    aspects = Counter(a for r in rows for a in r["aspects"])
    print(f"wrote {len(rows)} texts to {args.out}")
    print("sentiment:", dict(sorted(sentiments.items())))
    print("aspects:", {a: aspects[a] for a in ASPECTS})


if __name__ == "__main__":
    main()
