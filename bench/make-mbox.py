#!/usr/bin/env python3
"""Write an mbox of N realistic business emails (text, HTML alternatives,
quoted replies, signatures, some PDF attachments) for the import benchmark.
Deterministic: the same N gives the same file."""
import base64, random, sys
from email.message import EmailMessage
from email.utils import format_datetime
from datetime import datetime, timedelta, timezone

n, out = int(sys.argv[1]), sys.argv[2]
rng = random.Random(42)
products = ["2.5 sq mm FR wire", "32A DP MCB", "1HP monoblock pump", "4 sq mm cable",
            "6A switch", "LED panel 18W", "PVC conduit 25mm", "RCCB 40A 30mA"]
firms = ["acme.co.in", "shreeram-traders.in", "gmail.com", "patel-electricals.com",
         "yahoo.co.in", "krishna-agencies.in", "rediffmail.com", "sai-enterprises.co.in"]
names = ["Ravi Kumar", "Anita Shah", "Suresh Patel", "Meena Iyer", "Imran Khan", "Kiran Rao"]
start = datetime(2026, 1, 5, 9, 0, tzinfo=timezone(timedelta(hours=5, minutes=30)))
sig = "\n\n--\nRegards,\n{name}\nPurchase Dept.\nPh: +91 98{num}\nThis e-mail and any attachments are confidential and intended solely for the addressee.\n"

with open(out, "wb") as f:
    for i in range(n):
        m = EmailMessage()
        name = rng.choice(names)
        domain = rng.choice(firms)
        m["Message-ID"] = f"<bench-{i}@{domain}>"
        m["From"] = f"{name} <{name.split()[0].lower()}{i % 50}@{domain}>"
        m["To"] = "sales@pebble-demo.in"
        m["Subject"] = rng.choice(["Rate required", "Order", "RE: Quotation", "Payment done", "Urgent: stock"]) + f" #{i}"
        m["Date"] = format_datetime(start + timedelta(minutes=7 * i))
        if i % 3 == 1:
            m["In-Reply-To"] = f"<bench-{i-1}@{firms[(i-1) % len(firms)]}>"
        lines = [f"Dear Sir,\n\nPlease send rate and availability for:"]
        for _ in range(rng.randint(1, 5)):
            lines.append(f"- {rng.choice(products)}: {rng.randint(1, 200)} nos")
        body = "\n".join(lines) + sig.format(name=name, num=rng.randint(10000000, 99999999))
        if i % 3 == 1:
            body += "\n\nOn Mon, earlier, sales wrote:\n> " + "\n> ".join(lines)
        m.set_content(body)
        if i % 4 == 0:
            m.add_alternative("<html><body><p>" + body.replace("\n", "<br>") + "</p></body></html>", subtype="html")
        if i % 10 == 0:
            pdf = bytes(rng.getrandbits(8) for _ in range(rng.randint(20_000, 80_000)))
            m.add_attachment(pdf, maintype="application", subtype="pdf", filename=f"PO-{i}.pdf")
        raw = m.as_bytes().replace(b"\r\n", b"\n")
        escaped = b"\n".join((b">" + l if l.startswith(b"From ") else l) for l in raw.split(b"\n"))
        f.write(b"From sender@example.in Mon Jan  5 09:00:00 2026\n" + escaped.rstrip(b"\n") + b"\n\n")
