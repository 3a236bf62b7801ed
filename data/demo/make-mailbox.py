#!/usr/bin/env python3
"""Write data/demo/mailbox.mbox: the demo business's varied inbox (every
intent, Hinglish, a thread, HTML, identifiers, an attachment). Run from the
repository root; the output is committed so the demo needs no Python."""
from email.message import EmailMessage
from email.utils import format_datetime
from datetime import datetime, timedelta, timezone

IST = timezone(timedelta(hours=5, minutes=30))
start = datetime(2026, 12, 1, 9, 15, tzinfo=IST)
mails = [
    ("Ravi Kumar <ravi@sharma-electricals.in>", "Rate required for MCB and wire",
     "Dear Sir,\n\nPlease send your best rate and availability for:\n- 32A DP MCB: 40 nos\n- 2.5 sq mm FR wire: 10 coil\n- 16A SP MCB: 100 nos\n\nOur GSTIN is 27AAPCS1234F1Z3.\n\nRegards,\nRavi Kumar\nSharma Electricals, Pune\n+91 98220 12345"),
    ("Kiran <kiran.rao@gmail.com>", "rate bhejo",
     "bhai 1.5 sq mm FR wire ka rate bhejo, 20 coil chahiye. aur 6A socket 50 nos bhi. jaldi batao"),
    ("Anita Shah <purchase@shah-builders.co.in>", "Purchase Order PO-7781",
     "Dear Team,\n\nPlease find our purchase order PO-7781 for:\n1. Distribution Board 8 Way SPN - 12 nos\n2. RCCB 40A 4 Pole 30mA - 6 nos\n3. 25mm conduit - 300 nos\n\nKindly confirm dispatch date. Payment 30 days from invoice as agreed.\n\nAnita Shah\nShah Builders Pvt Ltd"),
    ("Suresh Patel <suresh@patel-agencies.in>", "Status of our order SO-2291?",
     "Hello,\n\nOur order SO-2291 placed on 20th Nov is still not delivered. Please share the LR number and expected delivery date. Site work is held up.\n\nSuresh"),
    ("Accounts <accounts@sai-infra.co.in>", "Payment advice - NEFT UTR SBIN326112345678",
     "Dear Sir,\n\nWe have transferred Rs. 1,84,500 against invoice INV-5512 via NEFT, UTR SBIN326112345678 dated 02-12-2026. Kindly acknowledge and update our ledger.\n\nAccounts Team\nSai Infra Projects"),
    ("Imran Khan <imran@khan-contractors.in>", "Damaged MCBs received",
     "Sir,\n\nIn yesterday's delivery 8 out of 40 MCBs (32A DP) were received with broken knobs. Photos attached on WhatsApp. Please arrange replacement at the earliest, otherwise we will have to return the full lot.\n\nImran Khan"),
    ("Vikas from BrightLite <sales@brightlite-leds.com>", "Introducing our new LED panel range - dealer prices",
     "Dear Business Owner,\n\nBrightLite Industries is a leading manufacturer of LED panels and battens. We are looking for distributors in your region and offer attractive dealer margins of 28%. Please find our catalogue and let us know a convenient time for a meeting.\n\nVikas\nRegional Sales Manager"),
    ("Lottery Desk <winner@prize-claims.top>", "CONGRATULATIONS!!! You have won Rs 25,00,000",
     "Dear Winner, your email has won Rs 25,00,000 in the international lucky draw. Send your bank account details and a processing fee of Rs 4,999 to claim now. Offer valid 24 hours only!!!"),
    ("Priya <priya@ourcompany.in>", "Team lunch on Friday",
     "Hi all, we are planning a team lunch this Friday at 1 pm to celebrate the quarter. Please reply if you can make it. Thanks, Priya"),
    ("Meena Iyer <meena@iyer-homes.in>", "Quotation for 1HP monoblock pump",
     "Hello,\n\nCould you quote for 1 HP monoblock pump, qty 2 nos, and 1.5 HP submersible, 1 no? Also mention warranty and delivery time to Chennai.\n\nThanks\nMeena"),
    ("Deepak <deepak@verma-electric.in>", "Order confirmation - go ahead",
     "Hi,\n\nWe accept your quotation Q-1142 dated 28 Nov. Please go ahead and supply 9W LED bulb 500 nos and 20W batten 120 nos. Bill to Verma Electric, GSTIN 07AAACV5678K1Z2.\n\nDeepak Verma"),
    ("Store <store@gupta-hardware.in>", "Invoice copy needed",
     "Dear Sir, please send a copy of invoice for our last dispatch (order GH-88) as the original got misplaced. Regards, Gupta Hardware Stores"),
    ("Newsletter <news@industry-weekly.example>", "This week in electricals: copper prices, new BIS rules",
     "Industry Weekly - Edition 412. Copper prices rise 4%. New BIS rules for cables. Click here to read more. Unsubscribe from this list."),
    ("Rohit Jain <rohit@jain-traders.in>", "Ledger reconciliation for FY 2026-27",
     "Dear Accounts,\n\nAs per our books the outstanding is Rs 42,300 whereas your statement shows Rs 51,800. Please send your ledger for April-November for reconciliation. A credit note for the returned RCCBs seems missing.\n\nRohit Jain"),
    ("Auto Reply <office@mehta-builders.in>", "Out of office: Re: Your quotation",
     "I am out of office till 10th December with limited access to email. For urgent matters please contact 98200 00000."),
    ("Sunita <sunita@kapoor-interiors.in>", "Need 12 way TPN DB and 63A FP MCB",
     "Hi, do you have 12 way TPN DB in stock? need 4 nos urgently. also 63A FP MCB 10 nos and 63A DP RCCB 5 nos. please share price with GST.\n\nSunita Kapoor\nKapoor Interiors"),
    ("Naveen <naveen@fastcargo-logistics.in>", "Transport services for your dispatches",
     "Dear Sir, we are a Pune based transport company offering full truck and part load services across Maharashtra and Gujarat at competitive rates. We would like to become your logistics partner."),
    ("Careers <arjun.mehta95@gmail.com>", "Application for sales executive post",
     "Respected Sir, I am applying for the post of sales executive. I have 3 years of experience in electrical products sales. Please find my resume attached. Regards, Arjun Mehta"),
    ("Sanjay <sanjay@desai-projects.in>", "wrong item supplied",
     "You have sent 4 sq mm FRLS wire instead of 4 sq mm FR wire in our order. Please pick up the material and send the correct item. This is the second time this month.\n\nSanjay Desai"),
    ("Pooja <pooja@nair-constructions.in>", "Requirement: HDPE pipe and openwell pump",
     "Good morning,\n\nWe need 63mm HDPE pipe 6 coils and 0.5 HP openwell pump 3 nos for a farm project near Nashik. Kindly send quotation with delivery charges.\n\nPooja Nair"),
]

with open("data/demo/mailbox.mbox", "wb") as f:
    for i, (sender, subject, body) in enumerate(mails):
        m = EmailMessage()
        domain = sender.split("@")[1].rstrip(">")
        m["Message-ID"] = f"<demo-{i + 1}@{domain}>"
        m["From"] = sender
        m["To"] = "sales@demo-electricals.in"
        m["Subject"] = subject
        m["Date"] = format_datetime(start + timedelta(minutes=37 * i))
        m.set_content(body)
        if i == 2:
            m.add_attachment(b"%PDF-1.4\n% demo purchase order\n", maintype="application", subtype="pdf", filename="PO-7781.pdf")
        if i == 9:
            m.add_alternative("<p>Hello,</p><p>Could you quote for <b>1 HP monoblock pump</b>, qty 2 nos, and 1.5 HP submersible, 1 no?</p>", subtype="html")
        raw = m.as_bytes().replace(b"\r\n", b"\n")
        escaped = b"\n".join((b">" + l if l.startswith(b"From ") else l) for l in raw.split(b"\n"))
        f.write(b"From demo@pebble Tue Dec  1 09:15:00 2026\n" + escaped.rstrip(b"\n") + b"\n\n")
    # A reply in the first thread.
    m = EmailMessage()
    m["Message-ID"] = "<demo-reply-1@sharma-electricals.in>"
    m["In-Reply-To"] = "<demo-1@sharma-electricals.in>"
    m["References"] = "<demo-1@sharma-electricals.in>"
    m["From"] = "Ravi Kumar <ravi@sharma-electricals.in>"
    m["To"] = "sales@demo-electricals.in"
    m["Subject"] = "Re: Rate required for MCB and wire"
    m["Date"] = format_datetime(start + timedelta(hours=20))
    m.set_content("Also add 40A DP MCB 20 nos to the same quote please.\n\nRavi\n\nOn Tue, Sales wrote:\n> Noted, we will revert shortly.")
    raw = m.as_bytes().replace(b"\r\n", b"\n")
    f.write(b"From demo@pebble Tue Dec  1 09:15:00 2026\n" + raw.rstrip(b"\n") + b"\n\n")
